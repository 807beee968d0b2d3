import { assign, setup } from 'xstate';
import type { EventOf } from '../events/catalog.js';

/**
 * One webhook endpoint's delivery cursor, folded from its own stream
 * (`webhook:<endpointId>`), so it survives restarts and every node of a NATS
 * cluster reads the same one. The dispatcher (src/integrations/webhooks) reads
 * the log after the cursor, delivers, and reports each outcome here.
 */
export interface WebhookContext {
  endpointId: string;
  /** The endpoint as an operator reads it (origin and path; no query, no credentials). */
  target: string;
  /** Every message of the events up to here is settled (delivered or given up); null: none yet. */
  cursor: { seq: number; eventId: string } | null;
  /** The event after the cursor whose first `done` messages are settled (an event can make several). */
  partial: { seq: number; done: number } | null;
  /** The message being retried: attempts so far and when it first failed (the retry limit counts from there). */
  pending: { messageId: string; attempts: number; firstFailedAt: number; retryAt: number; lastError: string } | null;
  /** NATS mode: the node delivering to this endpoint, until when. */
  lease: { nodeId: string; until: number } | null;
  delivered: number;
  abandoned: number;
}

type WebhookEvent =
  | EventOf<'webhook.endpoint.added'>
  | EventOf<'webhook.lease.taken'>
  | EventOf<'webhook.delivered'>
  | EventOf<'webhook.attempt.failed'>
  | EventOf<'webhook.abandoned'>;

type Source = EventOf<'webhook.delivered'>['data']['source'];

/** Whether the message at `source` is still to be settled (the cursor only moves forward). */
export function isAfterCursor(ctx: Pick<WebhookContext, 'cursor' | 'partial'>, source: Pick<Source, 'seq' | 'index'>): boolean {
  if (source.seq <= (ctx.cursor?.seq ?? 0)) return false;
  if (ctx.partial && source.seq < ctx.partial.seq) return false;
  if (ctx.partial && source.seq === ctx.partial.seq) return source.index >= ctx.partial.done;
  return true;
}

const settle = ({ event }: { event: WebhookEvent }) => {
  const { source } = (event as EventOf<'webhook.delivered'>).data;
  return source.last
    ? { cursor: { seq: source.seq, eventId: source.eventId }, partial: null, pending: null }
    : { partial: { seq: source.seq, done: source.index + 1 }, pending: null };
};

export const webhookMachine = setup({
  types: {
    context: {} as WebhookContext,
    events: {} as WebhookEvent,
    input: {} as { id: string },
  },
  guards: {
    isUnsettled: ({ context, event }) => 'source' in event.data && isAfterCursor(context, event.data.source),
    /** Free, expired (by the event's own time), or already this node's. */
    isLeaseFree: ({ context, event }) =>
      event.type === 'webhook.lease.taken' &&
      (!context.lease || context.lease.nodeId === event.data.nodeId || context.lease.until <= event.time),
  },
}).createMachine({
  id: 'webhook',
  // input is absent when xstate's transition() builds its throwaway actor: never throw here
  context: ({ input }) => ({
    endpointId: input?.id ?? '',
    target: '',
    cursor: null,
    partial: null,
    pending: null,
    lease: null,
    delivered: 0,
    abandoned: 0,
  }),
  initial: 'new',
  states: {
    new: {
      description: 'No delivery to this endpoint has been set up yet.',
      on: {
        'webhook.endpoint.added': {
          target: 'active',
          actions: assign(({ event }) => ({ target: event.data.target, cursor: event.data.from })),
        },
      },
    },
    active: {
      description: 'Messages after the cursor are delivered in log order, one at a time.',
      on: {
        'webhook.lease.taken': {
          guard: 'isLeaseFree',
          actions: assign({ lease: ({ event }) => ({ nodeId: event.data.nodeId, until: event.data.until }) }),
        },
        'webhook.delivered': {
          guard: 'isUnsettled',
          actions: assign(({ context, event }) => ({ ...settle({ event }), delivered: context.delivered + 1 })),
        },
        'webhook.abandoned': {
          guard: 'isUnsettled',
          actions: assign(({ context, event }) => ({ ...settle({ event }), abandoned: context.abandoned + 1 })),
        },
        'webhook.attempt.failed': {
          guard: 'isUnsettled',
          actions: assign({
            pending: ({ context, event }) => ({
              messageId: event.data.messageId,
              attempts: event.data.attempt,
              firstFailedAt:
                context.pending?.messageId === event.data.messageId ? context.pending.firstFailedAt : event.time,
              retryAt: event.time + event.data.retryInMs,
              lastError: event.data.error,
            }),
          }),
        },
      },
    },
  },
});
