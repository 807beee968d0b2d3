import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { z } from 'zod';

/** One node's heartbeat: it holds its lease until `at + timeout` (by the receiver's clock). */
export interface Heartbeat {
  nodeId: string;
  /** When the node started (a restarted node with the same id sends a new one). */
  startedAt: number;
}

/** How heartbeats travel between the nodes (NATS core; leases are not in the log). */
export interface LeaseBus {
  publish(hb: Heartbeat): void;
  subscribe(handler: (hb: Heartbeat) => void): () => void;
}

const heartbeatSchema = z.object({ nodeId: z.string().min(1).max(128), startedAt: z.number().int().nonnegative() });

/** `<prefix>_node.heartbeat`: beside the event log's `<prefix>.>`, never inside it. */
export function createNatsLeaseBus({ nc, subjectPrefix, logger }: { nc: NatsConnection; subjectPrefix: string; logger: Logger }): LeaseBus {
  const subject = `${subjectPrefix}_node.heartbeat`;
  return {
    publish(hb) {
      try {
        nc.publish(subject, JSON.stringify(hb));
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'heartbeat publish failed');
      }
    },
    subscribe(handler) {
      const sub: Subscription = nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          try {
            const p = heartbeatSchema.safeParse(JSON.parse(msg.string()));
            if (p.success) handler(p.data);
          } catch {
            /* not a heartbeat of ours */
          }
        },
      });
      return () => sub.unsubscribe();
    },
  };
}

export interface LeaseOptions {
  bus: LeaseBus;
  nodeId: string;
  /** NODE_TIMEOUT_MS: a node not heard from for this long has lost its lease. */
  timeoutMs: number;
  /** The node ids the log says own something (open rooms' hosts, members, recorder peers). */
  referenced: () => Iterable<string>;
  /** Run on exactly one node (the taker) per lost node; again after another timeout while it is still referenced. */
  takeOver: (lostNodeId: string) => Promise<void>;
  /**
   * Atomic: true on exactly one of the nodes that ask for one lost node within
   * a timeout (src/runtime/takeover-claims.ts). Asked by the taker before it
   * takes over, so two nodes that briefly disagree on who the taker is do not
   * both do it. Without it the lowest live id alone decides.
   */
  claim?: (lostNodeId: string) => Promise<boolean>;
  logger: Logger;
  clock?: () => number;
}

export interface Leases {
  /** This node, or a node heard from within the timeout (an unknown one counts as alive until this node has listened a whole timeout). */
  isAlive(nodeId: string): boolean;
  /** This node takes over lost nodes' work: the lowest id among the live nodes. */
  isTaker(): boolean;
  /** Live nodes, this one included. */
  alive(): string[];
  /** Checks for lost nodes now (the periodic check does the same). */
  check(): Promise<void>;
  close(): void;
}

/**
 * Node leases as heartbeats: every node publishes one every timeout/3 and
 * listens to the others'. A node referenced by the log (it hosts a room, holds
 * a member's socket or a recorder peer) that has not been heard from for the
 * timeout has lost its lease: the taker — the live node with the lowest id,
 * which every node computes alike — turns what it owned into events (its
 * members leave, its rooms close). Everything the takeover writes is guarded
 * by the machines (a member who left cannot leave twice), so two nodes that
 * briefly disagree about who takes over write each fact once.
 */
export function startLeases(o: LeaseOptions): Leases {
  const clock = o.clock ?? Date.now;
  const log = o.logger.child({ module: 'leases', nodeId: o.nodeId });
  const startedAt = clock();
  const seen = new Map<string, number>();
  /** Lost nodes taken over, and when (taken over again after another timeout while still referenced). */
  const taken = new Map<string, number>();
  let checking: Promise<void> | null = null;
  let closed = false;

  const beat = () => o.bus.publish({ nodeId: o.nodeId, startedAt });
  const off = o.bus.subscribe((hb) => {
    if (hb.nodeId === o.nodeId) return;
    if (!seen.has(hb.nodeId)) log.info({ peerNode: hb.nodeId }, 'node joined');
    seen.set(hb.nodeId, clock());
    taken.delete(hb.nodeId);
  });

  const isAlive = (id: string) => {
    if (id === o.nodeId) return true;
    const last = seen.get(id);
    const now = clock();
    if (last === undefined) return now - startedAt < o.timeoutMs;
    return now - last < o.timeoutMs;
  };
  const alive = () => [o.nodeId, ...[...seen.keys()].filter(isAlive)].sort();
  const isTaker = () => alive()[0] === o.nodeId;

  async function checkOnce() {
    if (closed || clock() - startedAt < o.timeoutMs) return;
    const lost = new Set<string>();
    for (const id of o.referenced()) if (!isAlive(id)) lost.add(id);
    for (const [id, last] of seen) if (!isAlive(id) && clock() - last > 10 * o.timeoutMs && !lost.has(id)) seen.delete(id);
    if (lost.size === 0 || !isTaker()) return;
    for (const id of lost) {
      const at = taken.get(id);
      if (at !== undefined && clock() - at < o.timeoutMs) continue;
      taken.set(id, clock());
      try {
        if (o.claim && !(await o.claim(id))) continue; // another node has it (logged by the claim)
        log.warn({ lostNode: id, lastSeen: seen.get(id) ?? null, timeoutMs: o.timeoutMs }, 'node lease lapsed: taking over what it owned');
        await o.takeOver(id);
      } catch (err) {
        log.error({ err, lostNode: id }, 'takeover failed; tried again after the timeout');
      }
    }
  }
  const check = () => (checking ??= checkOnce().finally(() => (checking = null)));

  beat();
  const every = Math.max(100, Math.floor(o.timeoutMs / 3));
  const beater = setInterval(beat, every);
  const checker = setInterval(() => void check(), every);
  beater.unref();
  checker.unref();
  log.info({ timeoutMs: o.timeoutMs }, 'node lease held');

  return {
    isAlive,
    isTaker,
    alive,
    check,
    close() {
      closed = true;
      clearInterval(beater);
      clearInterval(checker);
      off();
    },
  };
}
