import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { recordingStream, stopCompositionJobId } from '../../machines/actions.js';
import { STOP_TIMEOUT_MS } from '../../machines/recording.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { natsEventLogs } from '../helpers/nats-logs.js';

const logger = pino({ level: 'silent' });

/**
 * Issue 11: "Timers the dead node owned are armed again by the taker (they are
 * in the log)". Node a stops a recording (its stop timer armed) and dies; node
 * b starts only afterwards, so no live feed ever showed it that timer. Its
 * load reads the log: the timer is shadowed, and b, the taker, fires it.
 */
describe('NATS mode: a timer armed before the taker started', () => {
  const { open, logs, runtimes } = natsEventLogs('LATE');

  it('is read back from the log at load and fired by the taker once due', async () => {
    const recordingId = 'rec-late';
    const rs = recordingStream(recordingId);
    const a = createRuntime({ log: await open(), logger, shardedLoad: false });
    runtimes.push(a);
    await a.load();
    const member = { participantId: 'h', role: 'host' as const, name: null };
    expect((await a.dispatch({ stream: rs, type: 'recording.started', data: { recordingId, roomId: 'room-late', layout: 'grid', format: 'webm', startedAt: 1, members: [member] } })).accepted).toBe(true);
    expect((await a.dispatch({ stream: rs, type: 'recording.stop.requested', data: { reason: 'api', compose: true, compositionJobId: stopCompositionJobId(recordingId) } })).accepted).toBe(true);
    await a.close(); // a dies with its stop timer; h's peer never reports

    // b starts later; its clock reads the stop timer as long due (STOP_TIMEOUT_MS has passed).
    const graceMs = 300;
    const b = createRuntime({
      log: await open(),
      logger,
      shardedLoad: false,
      clock: () => Date.now() + STOP_TIMEOUT_MS + 1_000,
      shadowTimers: { graceMs, fires: () => true },
    });
    runtimes.push(b);
    await b.load();
    b.follow();
    expect(b.get(rs)?.value).toBe('stopping');
    await expect.poll(() => b.get(rs)?.value, { timeout: 5_000, interval: 50 }).toBe('stopped');
    const types: string[] = [];
    for await (const { event } of logs[1]!.read({ stream: rs })) types.push(event.type);
    expect(types).toEqual(['recording.started', 'recording.stop.requested', 'recording.stop.timed-out']);
    await b.close(); // it would shadow the next case's timers from its live feed
  }, 30_000);

  it('is not fired by a node that is not the taker', async () => {
    const recordingId = 'rec-late-2';
    const rs = recordingStream(recordingId);
    const a = createRuntime({ log: await open(), logger, shardedLoad: false });
    runtimes.push(a);
    await a.load();
    await a.dispatch({ stream: rs, type: 'recording.started', data: { recordingId, roomId: 'room-late', layout: 'grid', format: 'webm', startedAt: 1, members: [{ participantId: 'h', role: 'host', name: null }] } });
    await a.dispatch({ stream: rs, type: 'recording.stop.requested', data: { reason: 'api', compose: true, compositionJobId: stopCompositionJobId(recordingId) } });
    await a.close();
    const c = createRuntime({ log: await open(), logger, shardedLoad: false, clock: () => Date.now() + STOP_TIMEOUT_MS + 1_000, shadowTimers: { graceMs: 300, fires: () => false } });
    runtimes.push(c);
    await c.load();
    await new Promise((r) => setTimeout(r, 1_000));
    expect(c.get(rs)?.value).toBe('stopping');
  }, 30_000);
});
