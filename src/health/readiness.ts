import { ConcurrencyError, type EventLog } from '../log/types.js';
import { InvalidEventError } from '../log/validate.js';
import type { DiskMonitor } from './disk.js';

/** How the log's last append went (refusals of one event — a stale position, a bad event — say nothing of the log). */
export interface AppendHealth {
  /** The message of the last failed append, while no append has succeeded since. */
  readonly failing: string | null;
}

/**
 * The log with its appends watched: every EventLog member passes through
 * untouched (a Proxy, so members added to the port later do too); append
 * records whether the log took the write.
 */
export function watchAppends(log: EventLog): { log: EventLog; health: AppendHealth } {
  let failing: string | null = null;
  const append: EventLog['append'] = async (stream, events, options) => {
    try {
      const out = await log.append(stream, events, options);
      failing = null;
      return out;
    } catch (err) {
      if (!(err instanceof ConcurrencyError || err instanceof InvalidEventError)) failing = (err as Error).message ?? String(err);
      throw err;
    }
  };
  const watched = new Proxy(log, {
    get(target, prop, receiver) {
      if (prop === 'append') return append;
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { log: watched, health: { get failing() { return failing; } } };
}

/** A stream no event is ever appended to (room ids may not begin with `.`): reading its position is the log's cheapest round trip. */
const PROBE_STREAM = 'room:.readyz';

export interface ReadinessOptions {
  log: EventLog;
  appends: AppendHealth;
  disk: DiskMonitor | null;
  /** The probe gives up after this long (a NATS server that is gone answers nothing). */
  probeTimeoutMs?: number;
  /** Further reasons not to be ready (NATS mode: a RECORDING_DIR the other nodes do not share). */
  others?: () => string[];
}

export interface Readiness {
  ready: boolean;
  /** Why not, one line each. */
  reasons: string[];
}

/**
 * GET /readyz: the log takes appends (its last append did not fail, and it
 * answers a position read: in NATS mode that is a JetStream request, so a
 * lost connection shows), and the disk is above the reserve.
 */
export function createReadiness({ log, appends, disk, probeTimeoutMs = 1500, others }: ReadinessOptions) {
  async function probeLog(): Promise<string | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((r) => {
      timer = setTimeout(() => r(`event log (${log.kind}) did not answer within ${probeTimeoutMs} ms`), probeTimeoutMs);
    });
    try {
      return await Promise.race([
        log.position(PROBE_STREAM).then(
          () => null,
          (err: unknown) => `event log (${log.kind}) unreachable: ${(err as Error).message ?? String(err)}`,
        ),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  return async function check(): Promise<Readiness> {
    const [probe, space] = await Promise.all([probeLog(), disk ? disk.check() : null]);
    const reasons: string[] = [];
    if (appends.failing) reasons.push(`event log: the last append failed: ${appends.failing}`);
    if (probe) reasons.push(probe);
    if (space && !space.ok) reasons.push(...space.reasons.map((r) => `disk: ${r}`));
    if (others) reasons.push(...others());
    return { ready: reasons.length === 0, reasons };
  };
}
