import { describe, expect, it } from 'vitest';
import { isAfterCursor } from '../../../machines/webhook.js';
import { backoffMs } from '../../../src/integrations/webhooks/endpoint.js';
import { endpointIdOf, targetOf } from '../../../src/integrations/webhooks/index.js';
import { messageIdOf } from '../../../src/integrations/webhooks/feed.js';
import { ev, given } from '../../helpers/given.js';

const W = 'webhook:abc123';
const added = (from: { seq: number; eventId: string } | null = null) => ev(W, 'webhook.endpoint.added', { target: 'https://hooks.example/in', from });
const msg = (seq: number, index = 0, last = true) => ({
  messageId: `msg_${seq}_${index}`,
  type: 'room.started',
  source: { seq, eventId: `e${seq}`, index, last },
});
const delivered = (seq: number, index = 0, last = true) =>
  ev(W, 'webhook.delivered', { ...msg(seq, index, last), attempt: 1, status: 200, ms: 3, nodeId: 'n1' });
const failedAt = (seq: number, attempt: number, time: number) =>
  ev(W, 'webhook.attempt.failed', { ...msg(seq), attempt, status: 500, error: 'HTTP 500', retryInMs: 1_000 * attempt, nodeId: 'n1' }, { time });

describe('webhook endpoint machine: the delivery cursor', () => {
  it('starts where it was added; a delivery moves the cursor past its event', () => {
    const o = given(W, [added({ seq: 10, eventId: 'e10' })]).when(delivered(12));
    expect(o.snapshot.context.cursor).toEqual({ seq: 12, eventId: 'e12' });
    expect(o.snapshot.context.delivered).toBe(1);
  });

  it('an event with several messages: the cursor waits for its last one', () => {
    const h = given(W, [added(), delivered(5, 0, false)]);
    expect(h.snapshot.context.cursor).toBeNull();
    expect(h.snapshot.context.partial).toEqual({ seq: 5, done: 1 });
    expect(isAfterCursor(h.snapshot.context, { seq: 5, index: 0 })).toBe(false);
    expect(isAfterCursor(h.snapshot.context, { seq: 5, index: 1 })).toBe(true);
    const o = h.when(delivered(5, 1, true));
    expect(o.snapshot.context).toMatchObject({ cursor: { seq: 5, eventId: 'e5' }, partial: null });
  });

  it('the cursor never moves back: a second report of a settled message is refused', () => {
    expect(given(W, [added(), delivered(7)]).when(delivered(7)).accepted).toBe(false);
    expect(given(W, [added(), delivered(7)]).when(delivered(3)).accepted).toBe(false);
  });

  it('failed attempts keep the first failure time (the retry limit counts from it) and when to try next', () => {
    const o = given(W, [added(), failedAt(4, 1, 1_000)]).when(failedAt(4, 2, 5_000));
    expect(o.snapshot.context.pending).toEqual({ messageId: 'msg_4_0', attempts: 2, firstFailedAt: 1_000, retryAt: 7_000, lastError: 'HTTP 500' });
    expect(given(W, [added(), failedAt(4, 1, 1_000)]).when(delivered(4)).snapshot.context.pending).toBeNull();
  });

  it('giving up settles the message too', () => {
    const o = given(W, [added(), failedAt(4, 1, 1_000)]).when(
      ev(W, 'webhook.abandoned', { ...msg(4), attempts: 30, error: 'HTTP 500' }),
    );
    expect(o.snapshot.context).toMatchObject({ cursor: { seq: 4 }, pending: null, abandoned: 1 });
  });

  it('the lease (NATS mode): one node at a time, taken over once it lapses', () => {
    const lease = (nodeId: string, time: number) => ev(W, 'webhook.lease.taken', { nodeId, until: time + 30_000 }, { time });
    const h = [added(), lease('a', 1_000)];
    expect(given(W, h).when(lease('b', 2_000)).accepted).toBe(false);
    expect(given(W, h).when(lease('a', 20_000)).accepted).toBe(true);
    expect(given(W, h).when(lease('b', 31_000)).snapshot.context.lease).toEqual({ nodeId: 'b', until: 61_000 });
  });

  it('deliveries are only reported once the endpoint was added', () => {
    expect(given(W).when(delivered(1)).accepted).toBe(false);
  });
});

describe('webhook ids and backoff', () => {
  it('a message id depends on the source event, its index and the endpoint only', () => {
    const a = messageIdOf('ep1', 'evt-1', 0);
    expect(a).toBe(messageIdOf('ep1', 'evt-1', 0));
    expect(a).toMatch(/^msg_[A-Za-z0-9_-]{27}$/);
    expect(new Set([a, messageIdOf('ep2', 'evt-1', 0), messageIdOf('ep1', 'evt-2', 0), messageIdOf('ep1', 'evt-1', 1)]).size).toBe(4);
  });

  it('exponential, capped', () => {
    const p = { minDelayMs: 1_000, maxDelayMs: 600_000, maxAgeMs: 86_400_000 };
    expect([1, 2, 3, 4, 11, 30].map((n) => backoffMs(p, n))).toEqual([1_000, 2_000, 4_000, 8_000, 600_000, 600_000]);
  });

  it('endpoint ids hide the URL; the target keeps origin and path only', () => {
    const url = 'https://user:pw@hooks.example/in?token=s3cret';
    expect(endpointIdOf(url)).toMatch(/^[0-9a-f]{16}$/);
    expect(targetOf(url)).toBe('https://hooks.example/in');
  });
});
