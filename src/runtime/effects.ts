import type { Logger } from 'pino';
import { isEventType } from '../../events/catalog.js';
import type { StoredEvent } from '../../events/envelope.js';
import { parseStream } from '../../events/streams.js';
import type { EffectParams, EffectType, EmitSpec } from '../../machines/index.js';
import type { ExecutableAction } from '../../machines/step.js';
import type { DispatchResult, EffectContext, EffectHandlers, Runtime, UncheckedEventInput } from './types.js';

export interface EffectRunnerOptions {
  logger: Logger;
  handlers: EffectHandlers;
  /** Emits and timers become further dispatches. */
  dispatch: (input: UncheckedEventInput) => Promise<DispatchResult>;
  /** What a handler is handed (ctx.runtime). */
  runtime: () => Runtime;
  /** Shadows of other nodes' timers (see RuntimeOptions.shadowTimers). */
  shadowTimers?: { graceMs: number; fires: () => boolean };
  clock?: () => number;
}

/** Effects that only hand work on (idempotent by the event's id): a failure is retried until it passes. */
const RETRIED: ReadonlySet<string> = new Set(['enqueueComposition']);
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 15_000;

/**
 * Runs the actions a transition named, once its event is durable: `emit`
 * dispatches further events, `scheduleTimer` / `cancelTimer` keep one timer
 * per stream and key (firing dispatches the timer's event), and everything
 * else goes to the effect handlers. One action that fails is logged with its
 * ids, reported as `<kind>.action.failed` on the stream whose event named it
 * (the operator's replay lists it), and never stops the others of the
 * transition; a handler in RETRIED
 * (enqueueComposition: a job must not stay queued forever) is tried again
 * with backoff until it passes or the runtime closes.
 */
export function createEffectRunner(opts: EffectRunnerOptions) {
  const { logger, handlers, dispatch } = opts;
  const timers = new Map<string, NodeJS.Timeout>();
  /** Timers another node armed, shadowed here in case that node dies (by stream and key, like `timers`). */
  const shadows = new Map<string, NodeJS.Timeout>();
  const clock = opts.clock ?? Date.now;
  const retries = new Set<NodeJS.Timeout>();
  let closed = false;

  const idsOf = (event: StoredEvent) => ({ stream: event.stream, eventId: event.id, eventType: event.type, recordingId: event.correlationId });

  /** A failed action as an event of the stream whose event named it, caused by that event (not for a kind without one). */
  function report(cause: StoredEvent, action: string, err: unknown, more: { detail?: string; retrying?: boolean } = {}) {
    if (closed) return;
    const type = `${parseStream(cause.stream).kind}.action.failed`;
    if (!isEventType(type)) return;
    const error = (err instanceof Error ? err.message : String(err)).slice(0, 2000);
    const data = { action: action.slice(0, 64), error, retrying: more.retrying ?? false, ...(more.detail ? { detail: more.detail.slice(0, 300) } : {}) };
    dispatch({ stream: cause.stream, type, data, causationId: cause.id, correlationId: cause.correlationId })
      .then((r) => {
        if (!r.accepted) logger.warn({ ...idsOf(cause), action, why: r.message }, 'failed action not recorded: the stream does not take the report');
      })
      .catch((e) => logger.error({ err: e, ...idsOf(cause), action }, 'failed action could not be recorded'));
  }

  async function act(event: StoredEvent, actions: readonly ExecutableAction[]) {
    for (const a of actions) {
      try {
        await actOne(event, a);
      } catch (err) {
        logger.error({ err, effect: a.type, ...idsOf(event) }, 'action failed; the others of this transition still run');
        report(event, a.type, err);
      }
    }
  }

  async function actOne(event: StoredEvent, a: ExecutableAction) {
    const type = a.type as EffectType;
    if (type === 'emit') {
      for (const spec of (a.params as EffectParams['emit']).events) {
        try {
          await emit(event, spec);
        } catch (err) {
          logger.error({ err, ...idsOf(event), emitStream: spec.stream, emitType: spec.type }, 'emitted event failed');
          report(event, 'emit', err, { detail: `${spec.type} to ${spec.stream}` });
        }
      }
    } else if (type === 'scheduleTimer') {
      const p = a.params as EffectParams['scheduleTimer'];
      const key = `${event.stream}#${p.key}`;
      clearTimeout(shadows.get(key));
      shadows.delete(key);
      clearTimeout(timers.get(key));
      timers.set(
        key,
        setTimeout(() => {
          timers.delete(key);
          // A log that is down keeps the timer's event in the outbox: it is appended once the log is back.
          dispatch({ stream: event.stream, type: p.type, data: p.data, causationId: event.id }).catch((err) => {
            logger.error({ err, ...idsOf(event), timer: p.key }, 'timer event failed');
            report(event, 'scheduleTimer', err, { detail: `${p.key}: ${p.type}` });
          });
        }, p.delayMs),
      );
    } else if (type === 'cancelTimer') {
      const key = `${event.stream}#${(a.params as EffectParams['cancelTimer']).key}`;
      clearTimeout(timers.get(key));
      timers.delete(key);
      clearTimeout(shadows.get(key));
      shadows.delete(key);
    } else if (type in handlers) {
      const handler = handlers[type as keyof EffectHandlers] as (p: unknown, c: EffectContext) => void | Promise<void>;
      // Effects report back through events; one that throws is logged, never fatal to the runtime.
      const run = (attempt: number): void => {
        Promise.resolve()
          .then(() => handler(a.params, { event, runtime: opts.runtime() }))
          .catch((err) => {
            const retry = RETRIED.has(type) && !closed;
            const delayMs = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(attempt, 10));
            logger.error({ err, effect: type, ...idsOf(event), attempt, ...(retry ? { retryInMs: delayMs } : {}) }, 'effect failed');
            // Once per action: the retries of a RETRIED one are in the process log.
            if (attempt === 1) report(event, type, err, { retrying: retry });
            if (!retry) return;
            const t = setTimeout(() => {
              retries.delete(t);
              run(attempt + 1);
            }, delayMs);
            retries.add(t);
          });
      };
      run(1);
    } else if (!type.startsWith('xstate.')) {
      logger.warn({ effect: type, stream: event.stream }, 'no handler for effect');
    }
  }

  async function emit(cause: StoredEvent, spec: EmitSpec) {
    const r = await dispatch({
      stream: spec.stream,
      type: spec.type,
      data: spec.data,
      causationId: cause.id,
      correlationId: spec.correlationId,
    });
    if (!r.accepted) logger.debug({ stream: spec.stream, eventType: spec.type, why: r.message }, 'emitted event not accepted');
  }

  /**
   * The timer actions of an event another node appended: a scheduled timer is
   * shadowed (due graceMs after the original), a cancelled one is dropped.
   */
  function shadow(event: StoredEvent, actions: readonly ExecutableAction[]) {
    if (!opts.shadowTimers || closed) return;
    for (const a of actions) {
      if (a.type === 'cancelTimer' || a.type === 'scheduleTimer') {
        const p = a.params as EffectParams['scheduleTimer'];
        const key = `${event.stream}#${p.key}`;
        // The stream moved on elsewhere: a timer this node armed for the same key is that node's now (or cancelled).
        clearTimeout(timers.get(key));
        timers.delete(key);
        clearTimeout(shadows.get(key));
        shadows.delete(key);
        if (a.type === 'scheduleTimer') armShadow(key, event, p);
      }
    }
  }

  function armShadow(key: string, event: StoredEvent, p: EffectParams['scheduleTimer'], minDelayMs = 0) {
    const o = opts.shadowTimers!;
    const t = setTimeout(() => {
      shadows.delete(key);
      if (!o.fires()) return;
      dispatch({ stream: event.stream, type: p.type, data: p.data, causationId: event.id }).then(
        (r) => r.accepted && logger.warn({ ...idsOf(event), timer: p.key }, "fired a lost node's timer"),
        (err) => logger.error({ err, ...idsOf(event), timer: p.key }, 'shadow timer event failed'),
      );
    }, Math.max(minDelayMs, event.time + p.delayMs + o.graceMs - clock()));
    t.unref();
    shadows.set(key, t);
  }

  /**
   * A stream's whole history read back after a load (this process was not
   * running when those events were appended): the timers it leaves pending —
   * scheduled, neither cancelled nor fired (their event is not in it) — are
   * shadowed as if their events had come in live. A key this process already
   * times (its own timer, or a shadow from the live feed) is left as it is.
   * Returns how many were shadowed.
   */
  function shadowHistory(history: readonly { event: StoredEvent; actions: readonly ExecutableAction[] }[]): number {
    if (!opts.shadowTimers || closed) return 0;
    const pending = new Map<string, { event: StoredEvent; p: EffectParams['scheduleTimer'] }>();
    for (const { event, actions } of history) {
      for (const [key, t] of pending) if (t.event.stream === event.stream && t.p.type === event.type) pending.delete(key);
      for (const a of actions) {
        if (a.type !== 'cancelTimer' && a.type !== 'scheduleTimer') continue;
        const p = a.params as EffectParams['scheduleTimer'];
        const key = `${event.stream}#${p.key}`;
        if (a.type === 'cancelTimer') pending.delete(key);
        else pending.set(key, { event, p });
      }
    }
    let n = 0;
    for (const [key, { event, p }] of pending) {
      if (timers.has(key) || shadows.has(key)) continue;
      // Not before graceMs from now, even when long due: who the taker is is known once the leases
      // have listened for a whole timeout (graceMs is that timeout), and a shadow fires only on the taker.
      armShadow(key, event, p, opts.shadowTimers.graceMs);
      n++;
    }
    return n;
  }

  return {
    act,
    shadow,
    shadowHistory,
    /** Timers shadowed for other nodes. */
    get shadowCount() {
      return shadows.size;
    },
    /** Cancels every pending timer and effect retry. */
    close() {
      closed = true;
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      for (const t of shadows.values()) clearTimeout(t);
      shadows.clear();
      for (const t of retries) clearTimeout(t);
      retries.clear();
    },
  };
}
