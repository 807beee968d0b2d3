import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { attachLiveComposer } from '../../../src/composer/live/driver.js';
import type { LiveComposer } from '../../../src/composer/live/index.js';

/** What the driver asked of the live composer. */
function fakeLive() {
  const calls: string[] = [];
  const live = {
    start: (r: { recordingId: string }) => {
      calls.push(`start ${r.recordingId}`);
      return true;
    },
    freeze: async (id: string) => void calls.push(`freeze ${id}`),
    drop: async (id: string) => void calls.push(`drop ${id}`),
    release: async (id: string, outcome: string) => void calls.push(`release ${id} ${outcome}`),
  } as unknown as LiveComposer;
  return { live, calls };
}

function fakeRuntime() {
  let listener: ((a: any) => void) | null = null;
  return {
    runtime: { onEvent: (l: (a: any) => void) => ((listener = l), () => (listener = null)) },
    apply: (type: string, after: { value: string; context: object }, data: object = {}, local = false) =>
      listener?.({ type, event: { type, data }, before: undefined, after, local }),
  };
}

const job = (value: string) => ({ value, context: { recordingId: 'rec1', jobId: 'j1' } });

describe('the live composer driver', () => {
  it('lets a frozen session go when the recording’s job ends for good on another worker: completed removes its chunks, failed keeps them', async () => {
    const { live, calls } = fakeLive();
    const rt = fakeRuntime();
    attachLiveComposer(rt.runtime, live, pino({ level: 'silent' }));
    rt.apply('composition.completed', job('completed'));
    rt.apply('composition.failed', job('retrying')); // an attempt failed, another follows: keep it
    rt.apply('composition.failed', job('failed'));
    rt.apply('composition.progressed', job('running'));
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual(['release rec1 completed', 'release rec1 failed']);
  });

  it('starts on this process’s recording.started only, freezes at the stop, drops on a stop without composition', async () => {
    const { live, calls } = fakeLive();
    const rt = fakeRuntime();
    attachLiveComposer(rt.runtime, live, pino({ level: 'silent' }));
    const rec = { value: 'recording', context: { recordingId: 'rec1' } };
    const started = { recordingId: 'rec1', roomId: 'r', startedAt: 1, layout: 'grid', format: 'webm', members: [] };
    rt.apply('recording.started', rec, started, false); // another node's
    rt.apply('recording.started', rec, started, true);
    rt.apply('recording.stop.requested', { ...rec, value: 'stopping' }, { compose: true });
    rt.apply('recording.stop.requested', { ...rec, value: 'stopping' }, { compose: false });
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual(['start rec1', 'freeze rec1', 'drop rec1']);
  });
});
