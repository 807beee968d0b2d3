import type { Logger } from 'pino';
import { webhookStream } from '../../../events/streams.js';
import { isAfterCursor, type WebhookContext } from '../../../machines/webhook.js';
import type { EventLog } from '../../log/types.js';
import type { Runtime } from '../../runtime/runtime.js';
import { createFeed } from './feed.js';
import type { MappingOptions } from './mapping.js';
import type { Sender } from './send.js';
import type { FeedMessage } from './types.js';

export interface RetryPolicy {
  /** Backoff before attempt 2; doubled each time up to maxDelayMs. */
  minDelayMs: number;
  maxDelayMs: number;
  /** Given up this long after the first failed attempt. */
  maxAgeMs: number;
}

/** Exponential backoff after the given failed attempt (1-based). */
export const backoffMs = (policy: RetryPolicy, attempt: number) => Math.min(policy.minDelayMs * 2 ** (attempt - 1), policy.maxDelayMs);

export interface EndpointOptions {
  runtime: Runtime;
  log: EventLog;
  url: string;
  endpointId: string;
  /** The endpoint as logged (origin and path). */
  target: string;
  send: Sender;
  nodeId: string;
  /** NATS mode: deliver only while holding this endpoint's lease, so one node delivers each message. */
  leaseMs: number | null;
  retry: RetryPolicy;
  mapping: Omit<MappingOptions, 'lookup'>;
  logger: Logger;
  clock?: () => number;
}

/**
 * Delivers the log's webhook messages to one endpoint, one at a time, in log
 * order: each attempt's outcome is an event on `webhook:<endpointId>`, whose
 * fold is the cursor (what is settled) and the retry state. A restarted
 * process, or another node, continues from there with the same webhook-ids.
 */
export function startEndpoint(o: EndpointOptions) {
  const { runtime, endpointId, nodeId, logger: log } = o;
  const clock = o.clock ?? Date.now;
  const stream = webhookStream(endpointId);
  const ctx = () => runtime.get(stream)?.context as WebhookContext | undefined;
  let stopping = false;
  const aborter = new AbortController();
  const sleepers = new Set<() => void>();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, Math.max(0, ms));
      sleepers.add(done);
    });

  /** The log position deliveries start after when this endpoint is new: now, not the whole history. */
  async function startingPoint(): Promise<{ seq: number; eventId: string } | null> {
    for (;;) {
      if (runtime.lastSeq === 0) return null;
      const cp = runtime.checkpoint();
      if (cp) return { seq: cp.seq, eventId: cp.eventId };
      await sleep(20);
    }
  }

  /** The endpoint's stream, started once (in NATS mode by whichever node gets there first). */
  async function ensureAdded() {
    while (!stopping && runtime.get(stream)?.value !== 'active') {
      try {
        const from = await startingPoint();
        const r = await runtime.dispatch({ stream, type: 'webhook.endpoint.added', data: { target: o.target, from } });
        if (r.accepted) log.info({ endpointId, target: o.target, from }, 'webhook endpoint added');
        else if (runtime.get(stream)?.value !== 'active') await sleep(1_000);
      } catch (err) {
        log.warn({ err, endpointId }, 'could not add the webhook endpoint; trying again');
        await sleep(1_000);
      }
    }
  }

  /** NATS mode: true while this node may deliver (taking or renewing the lease as needed). */
  async function holdLease(): Promise<boolean> {
    if (o.leaseMs === null) return true;
    const now = clock();
    const lease = ctx()?.lease;
    if (lease && lease.nodeId === nodeId && lease.until - now > o.leaseMs / 2) return true;
    if (lease && lease.nodeId !== nodeId && lease.until > now) return false;
    const r = await runtime.dispatch({ stream, type: 'webhook.lease.taken', data: { nodeId, until: now + o.leaseMs } }, { mustExist: true });
    return r.accepted;
  }

  async function outcome(type: 'webhook.delivered' | 'webhook.attempt.failed' | 'webhook.abandoned', data: Record<string, unknown>) {
    const r = await runtime.dispatch({ stream, type, data } as never, { mustExist: true });
    if (!r.accepted) log.debug({ endpointId, type, why: r.message }, 'webhook outcome not recorded');
  }

  /** Delivers one message until it is settled (here or elsewhere), retrying with backoff. */
  async function settle(m: FeedMessage) {
    const message = { messageId: m.id, type: m.payload.type, source: m.source };
    while (!stopping) {
      const c = ctx();
      if (!c || !isAfterCursor(c, m.source)) return;
      if (!(await holdLease())) {
        const until = ctx()?.lease?.until ?? clock();
        await sleep(Math.min(Math.max(until - clock(), 0) + 50, o.leaseMs ?? 1000));
        continue;
      }
      const pending = c.pending?.messageId === m.id ? c.pending : null;
      if (pending && pending.retryAt > clock()) {
        await sleep(Math.min(pending.retryAt - clock(), o.leaseMs ? o.leaseMs / 2 : Infinity));
        continue;
      }
      const attempt = (pending?.attempts ?? 0) + 1;
      const res = await o.send(o.url, m, aborter.signal);
      const ids = { endpointId, webhookId: m.id, type: m.payload.type, attempt, status: res.status, ms: res.ms };
      if (res.ok) {
        log.info(ids, 'webhook delivered');
        await outcome('webhook.delivered', { ...message, attempt, status: res.status!, ms: res.ms, nodeId });
        return;
      }
      if (stopping && res.status === null) return; // cut short by shutdown: tried again after the restart
      const firstFailedAt = pending?.firstFailedAt ?? clock();
      if (clock() - firstFailedAt >= o.retry.maxAgeMs) {
        log.error({ ...ids, error: res.error }, 'webhook abandoned: no 2xx within the retry limit');
        await outcome('webhook.abandoned', { ...message, attempts: attempt, error: res.error ?? 'failed' });
        return;
      }
      const retryInMs = backoffMs(o.retry, attempt);
      log.warn({ ...ids, error: res.error, retryInMs }, 'webhook delivery failed');
      await outcome('webhook.attempt.failed', { ...message, attempt, status: res.status, error: res.error ?? 'failed', retryInMs, nodeId });
    }
  }

  let stopFeed = () => {};
  const done = (async () => {
    await ensureAdded();
    if (stopping) return;
    const feed = createFeed({ log: o.log, runtime, endpointId, from: ctx()?.cursor ?? null, mapping: o.mapping, logger: log });
    stopFeed = () => feed.close();
    if (stopping) feed.close();
    for (let m = await feed.next(); m && !stopping; m = await feed.next()) {
      for (;;) {
        try {
          await settle(m);
          break;
        } catch (err) {
          // The log refused an append: the message stays unsettled (and is tried again) until it takes one.
          log.error({ err, endpointId, webhookId: m.id }, 'could not record a webhook outcome; trying again');
          if (stopping) break;
          await sleep(1_000);
        }
      }
    }
    feed.close();
  })().catch((err) => log.error({ err, endpointId }, 'webhook endpoint stopped'));

  return {
    endpointId,
    /** Stops after the attempt in flight (cut short after `graceMs`); its outcome is still recorded. */
    async stop(graceMs = 2_000) {
      stopping = true;
      stopFeed();
      for (const wake of [...sleepers]) wake();
      const t = setTimeout(() => aborter.abort(), graceMs);
      await done;
      clearTimeout(t);
    },
  };
}
export type Endpoint = ReturnType<typeof startEndpoint>;
