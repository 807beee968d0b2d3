import type { Logger } from 'pino';
import type { StoredEvent } from '../../events/envelope.js';
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
}

/**
 * Runs the actions a transition named, once its event is durable: `emit`
 * dispatches further events, `scheduleTimer` / `cancelTimer` keep one timer
 * per stream and key (firing dispatches the timer's event), and everything
 * else goes to the effect handlers, whose failures are logged, never fatal.
 */
export function createEffectRunner(opts: EffectRunnerOptions) {
  const { logger, handlers, dispatch } = opts;
  const timers = new Map<string, NodeJS.Timeout>();

  async function act(event: StoredEvent, actions: readonly ExecutableAction[]) {
    for (const a of actions) {
      const type = a.type as EffectType;
      if (type === 'emit') {
        for (const spec of (a.params as EffectParams['emit']).events) await emit(event, spec);
      } else if (type === 'scheduleTimer') {
        const p = a.params as EffectParams['scheduleTimer'];
        const key = `${event.stream}#${p.key}`;
        clearTimeout(timers.get(key));
        timers.set(
          key,
          setTimeout(() => {
            timers.delete(key);
            dispatch({ stream: event.stream, type: p.type, data: p.data, causationId: event.id }).catch((err) =>
              logger.error({ err, stream: event.stream, timer: p.key }, 'timer event failed'),
            );
          }, p.delayMs),
        );
      } else if (type === 'cancelTimer') {
        const key = `${event.stream}#${(a.params as EffectParams['cancelTimer']).key}`;
        clearTimeout(timers.get(key));
        timers.delete(key);
      } else if (type in handlers) {
        const handler = handlers[type as keyof EffectHandlers] as (p: unknown, c: EffectContext) => void | Promise<void>;
        // Effects report back through events; one that throws is logged, never fatal to the runtime.
        Promise.resolve()
          .then(() => handler(a.params, { event, runtime: opts.runtime() }))
          .catch((err) => logger.error({ err, effect: type, stream: event.stream, recordingId: event.correlationId }, 'effect failed'));
      } else if (!type.startsWith('xstate.')) {
        logger.warn({ effect: type, stream: event.stream }, 'no handler for effect');
      }
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

  return {
    act,
    /** Cancels every pending timer. */
    close() {
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    },
  };
}
