/**
 * Lip-sync drift over a long recording: a generated werift sender whose sound
 * card runs 100 ppm fast (its video clock exact), recorded by a real
 * RecorderPeer, composed, and measured on the decoded output (flash times from
 * luma, beep onsets from the audio). Prints the flash-to-beep offset at the
 * start and the end; the target is end − start within ±20 ms.
 *
 * Usage: npm run bench:drift -- [minutes=30] [ppm=100] [speed=5] [--no-reports]
 * `speed` feeds the media that many times faster than real time (the sender's
 * clock with it); --no-reports sends no Sender Reports (placed by arrival:
 * the drift the reports remove, 180 ms for 30 minutes at 100 ppm).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createComposer } from '../src/composer/index.js';
import { measureAvOffsets, spread } from './lib/av-sync.js';
import { runDriftRecording } from './lib/drift-sender.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const minutes = Number(args[0] ?? 30);
const ppm = Number(args[1] ?? 100);
const speed = Number(args[2] ?? 5);
const senderReports = !process.argv.includes('--no-reports');
if (![minutes, ppm, speed].every(Number.isFinite) || minutes <= 0 || speed <= 0) {
  console.error('usage: bench-drift [minutes] [ppm] [speed] [--no-reports]');
  process.exit(2);
}

const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const root = await mkdtemp(path.join(os.tmpdir(), 'bench-drift-'));
try {
  const t0 = Date.now();
  const run = await runDriftRecording({ root, seconds: minutes * 60, audioPpm: ppm, flashEverySec: 10, speed, senderReports, logger });
  const recorded = Date.now();
  const composed = await createComposer({ root, logger }).compose({
    jobId: 'bench', meetingId: run.meetingId, recordingId: run.recordingId, durationMs: run.durationMs, layout: 'grid', format: 'mp4',
    width: 320, height: 180, fps: 30, namePlates: false, createdAt: Date.now(),
  });
  const done = Date.now();
  const m = await measureAvOffsets(composed.path, { region: { x: 0.4, y: 0.4, w: 0.2, h: 0.2 } });
  const o = m.offsetsMs;
  const head = o.slice(0, 3);
  const tail = o.slice(-3);
  // Medians of three: one flash whose beep lost a packet on a loaded machine does not decide.
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const drift = median(tail) - median(head);
  console.log(`drift bench: ${minutes} min, audio clock ${ppm} ppm fast, fed at ${speed}× real time, sender reports ${senderReports ? 'on' : 'off'}`);
  for (const s of run.segments) {
    console.log(`  ${s.kind}: offset ${s.offsetMs} ms, ${s.durationMs} ms of media, placed by ${s.sync?.source}, scale ${s.sync?.scale.toFixed(7)} (${(((s.sync?.scale ?? 1) - 1) * 1e6).toFixed(1)} ppm), ${s.sync?.rejectedReports ?? 0} reports rejected`);
  }
  console.log(`  ${run.sent.reports} report pairs sent; ${m.flashesMs.length} flashes, ${m.beepsMs.length} beeps, ${o.length} pairs`);
  const at = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(1)).join(', ');
  console.log(`  beeps found at ${at(m.beepsMs.slice(0, 3))} … ${at(m.beepsMs.slice(-3))} s`);
  console.log(`  flash − beep at the start: ${head.map((x) => x.toFixed(1)).join(', ')} ms; at the end: ${tail.map((x) => x.toFixed(1)).join(', ')} ms`);
  console.log(`  end − start (medians of three): ${drift.toFixed(1)} ms (target ±20); spread over the file ${spread(o).toFixed(1)} ms`);
  console.log(`  time: record ${((recorded - t0) / 1000).toFixed(0)} s, compose ${((done - recorded) / 1000).toFixed(0)} s`);
  process.exitCode = Math.abs(drift) <= 20 ? 0 : 1;
} finally {
  await rm(root, { recursive: true, force: true });
}
