import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { compositionStream, recordingStream, stopCompositionJobId } from '../../machines/actions.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { natsEventLogs } from '../helpers/nats-logs.js';
import { lagging } from '../helpers/lagging-log.js';

const logger = pino({ level: 'silent' });

/**
 * NATS mode, two nodes finishing one recording at once (seen in the node-loss
 * test: the recording was `stopped` in the log, and nobody requested its
 * composition). Node c decides two events on top of each other before the
 * first is durable (a segment, then its peer's close); node b's close of the
 * other peer takes the first one's position. The first is refused; the second
 * expects the position b's event now fills. Written as decided, it would have
 * been decided on a state without b's close: "not every peer closed", no
 * composition, and the log then says `stopped` with nobody having acted on it.
 */
describe('NATS mode: an optimistic decision whose predecessor was refused', () => {
  const { open, runtimes } = natsEventLogs('OPT');

  it('is decided again on the fresh state: the last close stops the recording and requests its composition', async () => {
    const [logB, logC] = await Promise.all([open(), open()]);
    const b = createRuntime({ log: logB, logger, shardedLoad: false });
    // c hears b's events 1 s late: its view of the recording is behind when it decides.
    const c = createRuntime({ log: lagging(logC, 1_000), logger, shardedLoad: false });
    runtimes.push(b, c);
    for (const rt of runtimes) {
      await rt.load();
      rt.follow();
    }

    const recordingId = 'rec-opt';
    const rs = recordingStream(recordingId);
    const member = (participantId: string, role: 'host' | 'participant') => ({ participantId, role, name: null });
    const segment = (p: string) => ({ file: `1-${recordingId}-${p}-audio-t.webm`, kind: 'audio' as const, segmentIndex: 0, offsetMs: 0, durationMs: 1000, codec: 'opus' });
    expect((await c.dispatch({ stream: rs, type: 'recording.started', data: { recordingId, roomId: 'room-opt', layout: 'grid', format: 'webm', startedAt: 1, members: [member('h', 'host'), member('p', 'participant')] } })).accepted).toBe(true);
    expect((await c.dispatch({ stream: rs, type: 'recording.stop.requested', data: { reason: 'api', compose: true, compositionJobId: stopCompositionJobId(recordingId) } })).accepted).toBe(true);
    await expect.poll(() => b.get(rs)?.value, { timeout: 5_000 }).toBe('stopping');

    // b: h's peer closed (c will not hear of it for a second).
    expect((await b.dispatch({ stream: rs, type: 'recording.peer.closed', data: { participantId: 'h', outcome: 'closed', segments: [segment('h')] } })).accepted).toBe(true);
    // c, at once and on its stale view: p's last segment, then p's close on top of it.
    const [seg, closed] = await Promise.all([
      c.dispatch({ stream: rs, type: 'recording.segment.recorded', data: { participantId: 'p', segment: segment('p') } }),
      c.dispatch({ stream: rs, type: 'recording.peer.closed', data: { participantId: 'p', outcome: 'closed', segments: [segment('p')] } }),
    ]);
    // Both were refused and decided again; the segment's retry may come after the close (then it is refused,
    // the recording being stopped: the close carries the same segment).
    expect(seg.accepted || seg.message.includes('in state "stopped"')).toBe(true);
    expect(closed.accepted).toBe(true);

    // Whoever wrote the last close acted on it: the composition is requested, and both nodes agree.
    const job = compositionStream(stopCompositionJobId(recordingId));
    await expect.poll(async () => (await b.read(job))?.snapshot.value, { timeout: 5_000 }).toBe('queued');
    for (const rt of runtimes) await expect.poll(() => rt.get(rs)?.value, { timeout: 5_000 }).toBe('stopped');
    const events: string[] = [];
    for await (const { event } of logB.read({ stream: rs })) events.push(`${event.type}${event.data && 'participantId' in event.data ? ` ${event.data.participantId}` : ''}`);
    expect(events).toEqual([
      'recording.started',
      'recording.stop.requested',
      'recording.peer.closed h',
      ...(seg.accepted ? ['recording.segment.recorded p'] : []),
      'recording.peer.closed p',
    ]);
  }, 30_000);
});
