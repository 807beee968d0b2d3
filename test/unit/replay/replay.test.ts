import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedLog } from '../../../src/log/embedded.js';
import { formatReplay, replay, type TimelineEntry } from '../../../src/replay/index.js';
import type { EventType } from '../../../events/catalog.js';
import { createRuntime, type EventInput } from '../../../src/runtime/runtime.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'mr-replay-'));
const file = join(dir, 'events.jsonl');
let live: Map<string, { value: unknown; context: unknown }>;

/** A live run: a room records; one participant never sends its offer; the composition fails twice. */
beforeAll(async () => {
  const log = await createEmbeddedLog({ file, fsync: false });
  let t = Date.parse('2026-11-25T10:00:00Z');
  let id = 0;
  const rt = createRuntime({ log, logger: pino({ level: 'silent' }), clock: () => (t += 500), newId: () => `ev-${++id}` });
  const d = async <T extends EventType>(stream: string, type: T, data: EventInput<T>['data']) => {
    const r = await rt.dispatch({ stream, type, data });
    if (!r.accepted) throw new Error(`${type}: ${r.message}`);
  };
  await d('room:standup', 'room.member.joined', { participantId: 'alice', name: 'Alice', nodeId: 'n1' });
  await d('room:standup', 'room.member.joined', { participantId: 'bob', name: null, nodeId: 'n1' });
  await d('room:standup', 'room.recording.requested', { recordingId: 'rec1', layout: 'grid', format: 'webm' });
  await d('peer:rec1.alice', 'peer.offer.received', { sdp: 'v=0 offer' });
  await d('peer:rec1.alice', 'peer.answered', { offerNumber: 1, sdp: 'v=0 answer' });
  await d('peer:rec1.alice', 'peer.connected', { offerNumber: 1 });
  await d('peer:rec1.alice', 'peer.media.started', { offerNumber: 1, kind: 'video' });
  await d('peer:rec1.bob', 'peer.offer.timed-out', {});
  await d('room:standup', 'room.member.joined', { participantId: 'carol', name: 'Carol', nodeId: 'n1' });
  await d('recording:rec1', 'recording.stop.requested', { reason: 'api', compose: true, compositionJobId: 'job1' });
  for (const p of ['alice', 'bob', 'carol']) await d(`peer:rec1.${p}`, 'peer.closed', { reason: 'recording-stopped', segments: [] });
  await d('composition:job1', 'composition.started', { attempt: 1, workerId: 'w1', delivery: 1 });
  await d('composition:job1', 'composition.failed', { attempt: 1, error: 'ffmpeg exited with code 1', stderr: ['[vp8 @ 0x1] Invalid data found'] });
  await d('composition:job1', 'composition.retry.due', {});
  await d('composition:job1', 'composition.started', { attempt: 2, workerId: 'w1', delivery: 1 });
  live = new Map([...rt.list('room'), ...rt.list('recording'), ...rt.list('peer'), ...rt.list('composition')].map((a) => [a.stream, { value: a.snapshot.value, context: a.snapshot.context }]));
  await rt.close();
  await log.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function replayFile(opts = {}) {
  const log = await createEmbeddedLog({ file, fsync: false });
  try {
    return await replay(log.read(), opts);
  } finally {
    await log.close();
  }
}

describe('replay', () => {
  it('reproduces every state the live run reached', async () => {
    const r = await replayFile();
    expect(r.finals.length).toBe(live.size);
    for (const f of r.finals) {
      const l = live.get(f.stream)!;
      expect({ stream: f.stream, state: f.state }).toEqual({ stream: f.stream, state: typeof l.value === 'string' ? l.value : JSON.stringify(l.value) });
      expect(f.context).toEqual(l.context);
    }
  });

  it('prints the same thing twice', async () => {
    expect(formatReplay(await replayFile())).toBe(formatReplay(await replayFile()));
  });

  it('points at the first thing that went wrong, with what led to it', async () => {
    const r = await replayFile();
    expect(r.problems[0].what).toBe('participant bob of recording rec1 never sent its recorder offer');
    const failed = r.problems.find((p) => p.what.startsWith('composition job1'))!;
    expect(failed.what).toContain('failed (attempt 1, will be retried)');
    expect(failed.detail).toContain('ffmpeg: [vp8 @ 0x1] Invalid data found');
    // the chain back to what requested it: the last peer closing let the stopped session ask for it
    expect(failed.ledTo.map((l) => l.type)).toEqual(
      expect.arrayContaining(['peer.closed', 'recording.peer.closed', 'composition.requested', 'composition.started']),
    );
  });

  it('hands the timeline over as it folds when asked, keeping none of it', async () => {
    const kept = await replayFile();
    const handed: TimelineEntry[] = [];
    const streamed = await replayFile({ onEntry: (t: TimelineEntry) => handed.push(t) });
    expect(handed).toEqual(kept.timeline);
    expect(streamed.timeline).toEqual([]);
    expect(streamed.shown).toBe(kept.shown);
    expect(streamed.problems).toEqual(kept.problems);
    expect(streamed.finals).toEqual(kept.finals);
  });

  it('filters to one recording and stops at a position', async () => {
    const r = await replayFile({ recordingId: 'rec1', untilSeq: 8 });
    expect(r.events).toBe(8);
    expect(r.timeline.every((t) => t.seq <= 8)).toBe(true);
    expect(r.timeline.some((t) => t.type === 'room.member.joined' && t.seq < 3)).toBe(false);
  });

  it('the CLI prints the report and JSON lines', async () => {
    const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
    const text = await run(tsx, ['tools/replay.ts', '--file', file]);
    expect(text.stdout).toContain('>> #');
    expect(text.stdout).toContain('peer:rec1.bob');
    expect(text.stdout).toMatch(/composition:job1\s+running/);
    const json = await run(tsx, ['tools/replay.ts', '--file', file, '--json', '--recording', 'rec1']);
    const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.kind === 'problem').length).toBeGreaterThanOrEqual(2);
    expect(lines.filter((l) => l.kind === 'final').some((l) => l.stream === 'composition:job1' && l.state === 'running')).toBe(true);
    await expect(run(tsx, ['tools/replay.ts', '--file', join(dir, 'missing.jsonl')])).rejects.toMatchObject({ stderr: expect.stringContaining('no event log') });
  });
});
