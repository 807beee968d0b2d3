import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventType } from '../../../events/catalog.js';
import { createEmbeddedLog } from '../../../src/log/embedded.js';
import type { LoggedEvent } from '../../../src/log/types.js';
import { allTimelines, formatReplay, recordingTimeline, replay, speechSpans, withSpeech, type Timeline } from '../../../src/replay/index.js';
import { createRuntime, type EventInput } from '../../../src/runtime/runtime.js';

const dir = mkdtempSync(join(tmpdir(), 'mr-timeline-'));
const file = join(dir, 'events.jsonl');
const T0 = Date.parse('2026-11-25T10:00:00Z');
let events: LoggedEvent[] = [];

const seg = (file: string, kind: 'audio' | 'video', segmentIndex: number, offsetMs: number, durationMs: number) => ({
  file,
  kind,
  segmentIndex,
  offsetMs,
  durationMs,
  codec: kind === 'audio' ? 'opus' : 'vp8',
});

/**
 * Given a meeting through the real runtime (its emitted events included):
 * Alice hosts and records from t=0 with Bob, who never sends his offer; Carol
 * joins at 10 s, her video stalls from 20 to 24 s, she leaves at 30 s and
 * comes back at 40 s, then Alice turns her camera off at 50 s (a new audio
 * segment, no video, whose audio starts only at 53 s); stop at 60 s; the composition fails once, then completes.
 */
beforeAll(async () => {
  const log = await createEmbeddedLog({ file, fsync: false });
  let now = T0;
  let id = 0;
  const rt = createRuntime({ log, logger: pino({ level: 'silent' }), clock: () => now, newId: () => `ev-${++id}` });
  const at = (s: number) => (now = T0 + s * 1000);
  const d = async <T extends EventType>(stream: string, type: T, data: EventInput<T>['data']) => {
    const r = await rt.dispatch({ stream, type, data });
    if (!r.accepted) throw new Error(`${type}: ${r.message}`);
  };
  const flowing = async (p: string) => {
    await d(`peer:rec1.${p}`, 'peer.offer.received', { sdp: 'v=0 offer' });
    await d(`peer:rec1.${p}`, 'peer.connected', { offerNumber: 1 });
    await d(`peer:rec1.${p}`, 'peer.media.started', { offerNumber: 1, kind: 'audio' });
  };
  at(0);
  await d('room:standup', 'room.member.joined', { participantId: 'alice', name: 'Alice', nodeId: 'n1' });
  await d('room:standup', 'room.member.joined', { participantId: 'bob', name: 'Bob', nodeId: 'n1' });
  await d('room:standup', 'room.recording.requested', { recordingId: 'rec1', layout: 'grid', format: 'webm' });
  await flowing('alice');
  at(10);
  await d('room:standup', 'room.member.joined', { participantId: 'carol', name: 'Carol', nodeId: 'n1' });
  await flowing('carol');
  await d('peer:rec1.carol', 'peer.media.started', { offerNumber: 1, kind: 'video' });
  at(11.6);
  await d('recording:rec1', 'recording.live.progressed', { composedUpToMs: 10_000, lagMs: 1_600, chunks: 1, workerId: 'n1/7' });
  at(20);
  await d('peer:rec1.bob', 'peer.offer.timed-out', {});
  await d('peer:rec1.carol', 'peer.media.stalled', { offerNumber: 1, kind: 'video' });
  at(24);
  await d('peer:rec1.carol', 'peer.media.resumed', { offerNumber: 1, kind: 'video' });
  at(23);
  await d('recording:rec1', 'recording.live.progressed', { composedUpToMs: 20_000, lagMs: 3_000, chunks: 2, workerId: 'n1/7' });
  at(30);
  await d('room:standup', 'room.member.left', { participantId: 'carol', reason: 'left' });
  await d('peer:rec1.carol', 'peer.closed', {
    reason: 'participant-left',
    segments: [seg('c-a0.webm', 'audio', 0, 10_000, 20_000), seg('c-v0.webm', 'video', 0, 10_000, 20_000)],
  });
  at(40);
  await d('room:standup', 'room.member.joined', { participantId: 'carol', name: 'Carol', nodeId: 'n1' });
  await d('peer:rec1.carol', 'peer.offer.received', { sdp: 'v=0 offer' });
  await d('peer:rec1.carol', 'peer.connected', { offerNumber: 2 });
  await d('peer:rec1.carol', 'peer.media.started', { offerNumber: 2, kind: 'audio' });
  at(50);
  await d('peer:rec1.alice', 'peer.segment.finalized', { offerNumber: 1, segment: seg('a-a0.webm', 'audio', 0, 0, 50_000) });
  await d('peer:rec1.alice', 'peer.segment.finalized', { offerNumber: 1, segment: seg('a-v0.webm', 'video', 0, 0, 50_000) });
  await d('peer:rec1.alice', 'peer.offer.received', { sdp: 'v=0 audio only' });
  at(60);
  await d('recording:rec1', 'recording.stop.requested', { reason: 'api', compose: true, compositionJobId: 'job1' });
  await d('peer:rec1.alice', 'peer.closed', { reason: 'recording-stopped', segments: [seg('a-a1.webm', 'audio', 1, 53_000, 7_000)] });
  await d('peer:rec1.bob', 'peer.closed', { reason: 'recording-stopped', segments: [] });
  await d('peer:rec1.carol', 'peer.closed', { reason: 'recording-stopped', segments: [seg('c-a1.webm', 'audio', 1, 40_000, 20_000)] });
  at(61);
  await d('composition:job1', 'composition.started', { attempt: 1, workerId: 'w1', delivery: 1 });
  at(62);
  await d('composition:job1', 'composition.failed', { attempt: 1, error: 'ffmpeg exited with code 1', stderr: ['[vp8 @ 0x1] Invalid data found'] });
  at(64);
  await d('composition:job1', 'composition.retry.due', {});
  await d('composition:job1', 'composition.started', { attempt: 2, workerId: 'w1', delivery: 1 });
  at(66);
  await d('composition:job1', 'composition.progressed', { attempt: 2, percent: 50, speed: 2 });
  at(70);
  await d('composition:job1', 'composition.completed', { attempt: 2, output: { file: 'out.webm', durationMs: 60_000, sizeBytes: 1000 }, skipped: [] });
  // another recording of another room: not in this timeline
  await d('room:other', 'room.member.joined', { participantId: 'zed', name: 'Zed', nodeId: 'n1' });
  await d('room:other', 'room.recording.requested', { recordingId: 'rec2', layout: 'grid', format: 'webm' });
  await rt.close();
  events = [];
  for await (const e of log.read()) events.push(e);
  await log.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const timeline = async () => (await recordingTimeline(events, 'rec1'))!;
const laneOf = (t: Timeline, id: string) => t.lanes.find((l) => l.participantId === id)!;

describe('a recording timeline, from the replay fold', () => {
  it('has the recording, one lane per participant (host first), and its length', async () => {
    const t = await timeline();
    expect(t).toMatchObject({ recordingId: 'rec1', roomId: 'standup', state: 'stopped', layout: 'grid', format: 'webm', startedAt: T0, stoppedAt: T0 + 60_000, stopReason: 'api', durationMs: 60_000 });
    expect(t.lanes.map((l) => [l.participantId, l.name, l.role])).toEqual([
      ['alice', 'Alice', 'host'],
      ['bob', 'Bob', 'participant'],
      ['carol', 'Carol', 'participant'],
    ]);
    expect(t.endMs).toBe(70_000);
  });

  it('keeps the live composition\'s progress, window by window, where the recording was when it was reported', async () => {
    const t = await timeline();
    expect(t.live).toEqual([
      { atMs: 11_600, composedUpToMs: 10_000, lagMs: 1_600, chunks: 1, workerId: 'n1/7' },
      { atMs: 23_000, composedUpToMs: 20_000, lagMs: 3_000, chunks: 2, workerId: 'n1/7' },
    ]);
  });

  it('draws presence: at the start, a late join, a leave with its reason, a rejoin, until the stop', async () => {
    const t = await timeline();
    expect(laneOf(t, 'alice').presence).toEqual([{ startMs: 0, endMs: 60_000, began: 'at-start', leftReason: null }]);
    expect(laneOf(t, 'carol').presence).toEqual([
      { startMs: 10_000, endMs: 30_000, began: 'joined', leftReason: 'left' },
      { startMs: 40_000, endMs: 60_000, began: 'rejoined', leftReason: null },
    ]);
  });

  it('draws each track segment and the camera-off spans', async () => {
    const t = await timeline();
    const alice = laneOf(t, 'alice');
    expect(alice.segments.map((s) => [s.kind, s.segmentIndex, s.startMs, s.endMs])).toEqual([
      ['audio', 0, 0, 50_000],
      ['video', 0, 0, 50_000],
      ['audio', 1, 53_000, 60_000],
    ]);
    expect(alice.cameraOff).toEqual([{ startMs: 50_000, endMs: 60_000 }]);
    // Carol came back without video; Bob never sent any
    expect(laneOf(t, 'carol').cameraOff).toEqual([{ startMs: 40_000, endMs: 60_000 }]);
    expect(laneOf(t, 'bob').cameraOff).toEqual([{ startMs: 0, endMs: 60_000 }]);
  });

  it('marks the problems, each with the events behind it as the replay report prints them', async () => {
    const t = await timeline();
    const [noOffer] = laneOf(t, 'bob').marks;
    expect(noOffer).toMatchObject({ kind: 'no-offer', atMs: 20_000, title: 'participant bob of recording rec1 never sent its recorder offer' });
    expect(noOffer!.events.at(-1)).toMatchObject({ type: 'peer.offer.timed-out', stream: 'peer:rec1.bob' });
    expect(noOffer!.events.map((e) => e.type)).toContain('peer.requested');
    // the same chain as the report's problem
    const report = await replay(events, { recordingId: 'rec1' });
    const problem = report.problems.find((p) => p.stream === 'peer:rec1.bob')!;
    expect(noOffer!.events.slice(0, -1).map(({ time, ...rest }) => rest)).toEqual(problem.ledTo);
    expect(formatReplay(report)).toContain(`#${problem.seq} ${noOffer!.title}`);

    const gaps = laneOf(t, 'carol').marks.filter((m) => m.kind === 'gap');
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toMatchObject({ atMs: 20_000, endMs: 24_000, title: 'video stopped arriving' });
    expect(gaps[0]!.events.at(-1)!.type).toBe('peer.media.stalled');
    // Alice's audio missing from 50 to 53 s: a gap found from the segments, with their events
    const [hole] = laneOf(t, 'alice').marks;
    expect(laneOf(t, 'alice').marks).toHaveLength(1);
    expect(hole).toMatchObject({ kind: 'gap', atMs: 50_000, endMs: 53_000, title: 'no audio recorded for 3 s while present' });
    expect(hole!.detail).toEqual(['the audio segment before ends at 50000 ms (a-a0.webm)', 'the next begins at 53000 ms (a-a1.webm)']);
    // the chains of both segments (each with its stream's recent history, as the report's chains are)
    expect(hole!.events.map((e) => e.summary)).toEqual(expect.arrayContaining(['audio a-a0.webm at +0 ms, 50000 ms', 'alice: closed, 3 segment(s)']));
    expect(hole!.events.map((e) => e.seq)).toEqual([...new Set(hole!.events.map((e) => e.seq))].sort((a, b) => a - b));

    expect(t.marks.map((m) => [m.kind, m.atMs])).toEqual([['composition-failed', 62_000]]);
    expect(t.marks[0]!.detail).toContain('ffmpeg: [vp8 @ 0x1] Invalid data found');
    expect(t.marks[0]!.events.map((e) => e.type)).toEqual(expect.arrayContaining(['recording.peer.closed', 'composition.requested', 'composition.started', 'composition.failed']));
    expect(t.marks[0]!.events.every((e) => e.time.startsWith('2026-11-25T10:01'))).toBe(true);
  });

  it('lists every composition attempt with its outcome', async () => {
    const t = await timeline();
    expect(t.compositions).toEqual([
      {
        jobId: 'job1',
        layout: 'grid',
        format: 'webm',
        state: 'completed',
        output: 'out.webm',
        attempts: [
          { jobId: 'job1', attempt: 1, startMs: 61_000, endMs: 62_000, outcome: 'failed', percent: 0, error: 'ffmpeg exited with code 1' },
          { jobId: 'job1', attempt: 2, startMs: 64_000, endMs: 70_000, outcome: 'completed', percent: 100, error: null },
        ],
      },
    ]);
  });

  it('reads the same from the whole log and from the events correlated with the recording', async () => {
    const correlated = events.filter((e) => e.event.correlationId === 'rec1');
    expect(correlated.length).toBeLessThan(events.length);
    expect(await recordingTimeline(correlated, 'rec1')).toEqual(await timeline());
  });

  it('is null for a recording the log does not hold', async () => {
    expect(await recordingTimeline(events, 'nope')).toBeNull();
  });

  it('adds speech from audio levels: windows above the threshold, short pauses bridged', async () => {
    const levels = { version: 1 as const, intervalMs: 200, offsetMs: 1_000, levels: [-127, -20, -25, null, -30, -127, -127, -127, -20, -90] };
    expect(speechSpans(levels)).toEqual([
      { startMs: 1_200, endMs: 2_000 },
      { startMs: 2_600, endMs: 2_800 },
    ]);
    const t = withSpeech(await timeline(), [{ participantId: 'carol', levels }]);
    expect(laneOf(t, 'carol').speech).toHaveLength(2);
    expect(laneOf(t, 'alice').speech).toEqual([]);
  });
});

describe('npm run replay -- --html', () => {
  it('writes one self-contained page with every recording’s timeline and the problems', async () => {
    const out = join(dir, 'report.html');
    const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
    const r = await promisify(execFile)(tsx, ['tools/replay.ts', '--file', file, '--html', out, '--recordings', dir]);
    expect(r.stdout).toContain('2 recording(s)');
    const page = readFileSync(out, 'utf8');
    // nothing is fetched: no src/href attribute, no import, no fetch, no url(), no address but the SVG namespace's name
    expect(page.replaceAll("'http://www.w3.org/2000/svg'", '')).not.toMatch(/\s(src|href)=|^\s*import\b|import\(|fetch\(|url\(|https?:\/\//m);
    expect(page).toContain('export function renderTimeline');
    const data = JSON.parse(/<script type="application\/json" id="timelines">([^]*?)<\/script>/.exec(page)![1]!);
    expect(data).toEqual(JSON.parse(JSON.stringify(await allTimelines(events))));
    expect(data.map((t: Timeline) => t.recordingId)).toEqual(['rec1', 'rec2']);
    expect(page).toContain('participant bob of recording rec1 never sent its recorder offer');
    const one = await promisify(execFile)(tsx, ['tools/replay.ts', '--file', file, '--html', out, '--recording', 'rec1']);
    expect(one.stdout).toContain('1 recording(s)');
    await expect(promisify(execFile)(tsx, ['tools/replay.ts', '--file', file, '--html', out, '--recording', 'nope'])).rejects.toMatchObject({
      stderr: expect.stringContaining('the log holds no recording nope'),
    });
  }, 60_000);
});
