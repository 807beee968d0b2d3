/**
 * Abuse limits of the signaling socket: what one client address, one socket
 * and one recorder peer may do. Pure counters over an injected clock; the
 * adapter decides what a refusal sends.
 */

export interface SignalingLimits {
  /** Open sockets per client address; the next upgrade gets HTTP 429. */
  socketsPerAddress: number;
  /** Token bucket per socket: refill rate (messages per second) and capacity. */
  messagesPerSecond: number;
  messageBurst: number;
  /** Members of one room. */
  membersPerRoom: number;
  /** Rooms with a socket on this process. */
  liveRooms: number;
  /** `recording-offer`s after the first, per recorder peer, in any 60 s. */
  reoffersPerMinute: number;
}

export const DEFAULT_LIMITS: SignalingLimits = {
  socketsPerAddress: 50,
  messagesPerSecond: 50,
  messageBurst: 200,
  membersPerRoom: 50,
  liveRooms: 1000,
  reoffersPerMinute: 10,
};

export type FloodVerdict =
  /** Within the bucket: handle the message. */
  | 'ok'
  /** The first message dropped in this flood: drop it and tell the sender, once. */
  | 'throttled'
  /** Dropped, sender already told. */
  | 'dropped'
  /** Still flooding after a bucket's worth of drops: close the socket. */
  | 'close';

/**
 * A token bucket (`rate` per second, `burst` deep) that also counts what it
 * drops: once throttled, a sender that has more than `burst` further messages
 * dropped before its bucket is full again is told to go. A bucket that
 * refills completely ends the flood.
 */
export function createFloodGuard(rate: number, burst: number, now: () => number = Date.now) {
  let tokens = burst;
  let last = now();
  let dropped = 0;
  return {
    check(): FloodVerdict {
      const t = now();
      tokens = Math.min(burst, tokens + ((t - last) * rate) / 1000);
      last = t;
      if (tokens >= burst) dropped = 0;
      if (tokens >= 1) {
        tokens -= 1;
        return 'ok';
      }
      dropped++;
      if (dropped > burst) return 'close';
      return dropped === 1 ? 'throttled' : 'dropped';
    },
    /** Messages dropped in the current flood. */
    get dropped() {
      return dropped;
    },
  };
}
export type FloodGuard = ReturnType<typeof createFloodGuard>;

/** Open sockets per client address. Entries go away with their last socket. */
export function createAddressCounter(max: number) {
  const open = new Map<string, number>();
  return {
    /** Whether one more socket from `address` is allowed. */
    admits: (address: string) => (open.get(address) ?? 0) < max,
    add(address: string) {
      open.set(address, (open.get(address) ?? 0) + 1);
    },
    remove(address: string) {
      const n = (open.get(address) ?? 0) - 1;
      if (n > 0) open.set(address, n);
      else open.delete(address);
    },
    count: (address: string) => open.get(address) ?? 0,
    get addresses() {
      return open.size;
    },
  };
}

/**
 * Offers per key (a recorder peer) in a sliding window: the first offer plus
 * `max` re-offers are allowed in any `windowMs`. Only accepted offers are
 * recorded, so a key exists only for a real peer.
 */
export function createOfferWindow(max: number, windowMs = 60_000, now: () => number = Date.now) {
  const times = new Map<string, number[]>();
  const recent = (key: string) => {
    const t = now();
    const kept = (times.get(key) ?? []).filter((x) => t - x < windowMs);
    if (kept.length) times.set(key, kept);
    else times.delete(key);
    return kept;
  };
  return {
    allows: (key: string) => recent(key).length < max + 1,
    record(key: string) {
      times.set(key, [...recent(key), now()]);
    },
    get keys() {
      return times.size;
    },
  };
}
export type OfferWindow = ReturnType<typeof createOfferWindow>;
