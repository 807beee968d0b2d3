/**
 * Lip sync over a sender whose sound card runs fast, through a real werift
 * sender, a real RecorderPeer and the composer, measured on the decoded
 * output. The drift is exaggerated 100× (1 % instead of 100 ppm) so a few
 * seconds show what half an hour would: placed by arrival, the beeps fall
 * behind the flashes by 10 ms a second; placed by the Sender Reports, they
 * stay. The 30-minute, 100 ppm run is `npm run bench:drift`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createComposer } from '../../src/composer/index.js';
import { measureAvOffsets } from '../../tools/lib/av-sync.js';
import { runDriftRecording } from '../../tools/lib/drift-sender.js';

const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const roots: string[] = [];
afterAll(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

async function recordAndMeasure(senderReports: boolean) {
  const root = await mkdtemp(path.join(os.tmpdir(), 'lip-sync-drift-'));
  roots.push(root);
  const run = await runDriftRecording({ root, seconds: 8, audioPpm: 10_000, flashEverySec: 1, senderReports, logger });
  const composed = await createComposer({ root, logger }).compose({
    jobId: 'j1', meetingId: run.meetingId, recordingId: run.recordingId, durationMs: run.durationMs, layout: 'grid', format: 'mp4',
    width: 320, height: 180, fps: 30, namePlates: false, createdAt: Date.now(),
  });
  const m = await measureAvOffsets(composed.path, { region: { x: 0.4, y: 0.4, w: 0.2, h: 0.2 } });
  return { run, m };
}

describe('lip sync with a sound card 1 % fast (100 ppm, 100× exaggerated)', () => {
  it('placed by Sender Reports, the flash-to-beep offset at the end is that of the start (±20 ms); by arrival it drifts', async () => {
    const synced = await recordAndMeasure(true);
    const arrival = await recordAndMeasure(false);
    const line = (name: string, r: typeof synced) =>
      `${name}: ${r.run.sent.reports} reports, sync ${r.run.segments.map((s) => `${s.kind} ${s.sync?.source} scale ${s.sync?.scale.toFixed(5)}`).join(', ')}; offsets ${r.m.offsetsMs.map((x) => x.toFixed(1)).join(" ")} ms; flashes ${r.m.flashesMs.map((x) => x.toFixed(1)).join(" ")}; beeps ${r.m.beepsMs.join(" ")}; segments ${JSON.stringify(r.run.segments.map((s) => [s.kind, s.offsetMs, s.durationMs]))}`;
    console.log(`${line('sender reports', synced)}\n${line('arrival only', arrival)}`);

    expect(synced.run.segments.every((s) => s.sync?.source === 'sender-reports')).toBe(true);
    const audio = synced.run.segments.find((s) => s.kind === 'audio')!;
    expect(audio.sync!.scale).toBeCloseTo(1 / 1.01, 3);
    const o = synced.m.offsetsMs;
    expect(o.length).toBeGreaterThanOrEqual(7);
    expect(Math.abs(o.at(-1)! - o[0]!)).toBeLessThanOrEqual(20);
    for (const x of o) expect(Math.abs(x)).toBeLessThanOrEqual(20);

    // Without reports the same sender drifts: the test can fail.
    expect(arrival.run.segments.every((s) => s.sync?.source === 'arrival')).toBe(true);
    const a = arrival.m.offsetsMs;
    expect(a.at(-1)! - a[0]!).toBeLessThan(-50);
  }, 180_000);
});
