import { existsSync, readFileSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { segmentMetaSchema } from '../../events/segment.js';
import { runProcess } from '../../src/process/run.js';
import { alignOffsets, mean, measureAvOffsets, spread, type AvOffsets } from '../../tools/lib/av-sync.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { removeDir, tempDir } from '../helpers/tmp.js';

/**
 * Lip sync through a real browser: headless Chromium captures known content
 * (fake camera and microphone from files: a white flash and a 1 kHz beep at
 * the same instants, every 2 s), sends it to the recorder from the demo page,
 * and records the same stream itself with MediaRecorder as the reference (the
 * fake capture's own A/V offset varies by a frame from run to run, so the
 * composed file is measured against the browser's, not against zero).
 * getUserMedia runs with the audio processing off: noise suppression erases a
 * steady tone within a second.
 */
const CHROMIUM = '/usr/bin/chromium';
const MEETING_MS = 13_000;
const FLASH_EVERY_S = 2;

async function ffmpeg(args: string[]) {
  const r = await runProcess('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], { timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new Error(`ffmpeg: ${r.stderr.join(' ')}`);
}

const fmt = (m: AvOffsets) => `${m.offsetsMs.map((x) => x.toFixed(1)).join(' ')} (mean ${mean(m.offsetsMs).toFixed(1)}, spread ${spread(m.offsetsMs).toFixed(1)})`;

describe('lip sync through Chromium', () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  let app: TestApp;
  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    dir = await tempDir('lip-sync-');
    // 10 s loops, flash (3 frames) and beep (100 ms) at 1, 3, 5, 7, 9 s: both files the same length so they loop together.
    const y4m = join(dir, 'flash.y4m');
    const wav = join(dir, 'beep.wav');
    await ffmpeg([
      '-f', 'lavfi', '-i', `color=c=black:s=320x240:r=30:d=10,drawbox=x=0:y=0:w=320:h=240:color=white:t=fill:enable='between(mod(n\\,${FLASH_EVERY_S * 30})\\,30\\,32)'`,
      '-pix_fmt', 'yuv420p', y4m,
    ]);
    await ffmpeg(['-f', 'lavfi', '-i', `aevalsrc='0.5*sin(2*PI*1000*t)*between(mod(t\\,${FLASH_EVERY_S})\\,1\\,1.1)':s=48000:d=10`, '-c:a', 'pcm_s16le', wav]);
    app = await startTestApp();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
        `--use-file-for-fake-video-capture=${y4m}`, `--use-file-for-fake-audio-capture=${wav}`,
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await app?.cleanup();
    if (dir) await removeDir(dir);
  });

  it('the composed file keeps the browser’s own flash-to-beep offset, flash by flash (±20 ms, spread within one frame)', async () => {
    const page = await (await browser.newContext()).newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    // Audio processing off, and the browser's own recording of the stream it sends (the reference).
    await page.addInitScript(() => {
      const md = navigator.mediaDevices;
      const original = md.getUserMedia.bind(md);
      const w = window as unknown as { refChunks: Blob[]; refRecorder?: MediaRecorder };
      w.refChunks = [];
      md.getUserMedia = async (c?: MediaStreamConstraints) => {
        const audio = c?.audio ? { echoCancellation: false, noiseSuppression: false, autoGainControl: false } : false;
        const stream = await original({ ...c, audio });
        if (!w.refRecorder && stream.getVideoTracks().length > 0 && stream.getAudioTracks().length > 0) {
          // PCM, not Opus: Chrome's MediaRecorder buffers Opus in 60 ms frames and its reference then showed
          // the beeps 50-60 ms later than a PCM reference of the same capture did (measured here).
          w.refRecorder = new MediaRecorder(stream, { mimeType: 'video/webm;codecs=vp8,pcm' });
          w.refRecorder.ondataavailable = (e) => w.refChunks.push(e.data);
          w.refRecorder.start(1000);
        }
        return stream;
      };
    });
    await page.goto(`${app.url}/?room=lipsync&name=Flash`);
    await page.click('#join');
    await page.waitForSelector('#me[data-role="host"]');
    await page.click('#record');
    await page.waitForSelector('#recording-state[data-state="recording"]');
    await page.waitForSelector('#peer-state[data-state="connected"]', { timeout: 20_000 });
    const recordingId = (await page.getAttribute('#recording-state', 'data-recording-id'))!;
    await page.waitForTimeout(MEETING_MS); // the meeting: media flowing for this long is the content under test
    await page.click('#stop');
    await page.waitForSelector('#recording-state[data-state="stopped"]', { timeout: 20_000 });
    const refB64 = await page.evaluate(async () => {
      const w = window as unknown as { refChunks: Blob[]; refRecorder: MediaRecorder };
      await new Promise<void>((r) => {
        w.refRecorder.onstop = () => r();
        w.refRecorder.stop();
      });
      const buf = new Uint8Array(await new Blob(w.refChunks, { type: 'video/webm' }).arrayBuffer());
      let s = '';
      for (let i = 0; i < buf.length; i += 0x8000) s += String.fromCharCode(...buf.subarray(i, i + 0x8000));
      return btoa(s);
    });
    const refFile = join(dir, 'reference.webm');
    await writeFile(refFile, Buffer.from(refB64, 'base64'));

    let job: { status: string; output?: { filename: string } } | undefined;
    await expect
      .poll(
        async () => {
          const r = (await fetch(`${app.url}/api/recording-compositions?meetingId=lipsync`).then((x) => x.json())) as { jobs: (typeof job & { recordingId: string })[] };
          job = r.jobs.find((j) => j!.recordingId === recordingId);
          return job?.status;
        },
        { timeout: 120_000, interval: 500 },
      )
      .toBe('completed');
    const composedFile = join(app.root, 'lipsync', job!.output!.filename);
    const sidecars = (await readdir(join(app.root, 'lipsync')))
      .filter((f) => f.includes(`-${recordingId}-`) && f.endsWith('.json') && !f.includes('levels') && !f.includes('composed'))
      .map((f) => segmentMetaSchema.safeParse(JSON.parse(readFileSync(join(app.root, 'lipsync', f), 'utf8'))))
      .flatMap((r) => (r.success ? [r.data] : []));
    const placed = sidecars.map((m) => `${m.kind} at ${m.offsetMs} ms by ${m.sync?.source} (scale ${m.sync?.scale.toFixed(6)}, ${m.sync?.reports.length} reports, ${m.sync?.rejectedReports} rejected)`);
    console.log(`segments: ${placed.join('; ')}`);

    // MR_LIP_SYNC_KEEP=<dir>: the tracks, sidecars, composed file and reference are kept there, to measure apart.
    if (process.env.MR_LIP_SYNC_KEEP) {
      const { cp } = await import('node:fs/promises');
      const keep = `${process.env.MR_LIP_SYNC_KEEP}/${Date.now()}`;
      await cp(join(app.root, 'lipsync'), keep, { recursive: true });
      await cp(refFile, `${keep}/reference.webm`);
      console.log(`kept in ${keep}`);
    }
    const center = { x: 0.4, y: 0.4, w: 0.2, h: 0.2 };
    const [ref, composed] = await Promise.all([measureAvOffsets(refFile, { region: center }), measureAvOffsets(composedFile, { region: center })]);
    // The fake capture's own A/V offset jumps inside a run (by a frame, and by far more on a loaded machine):
    // each flash of the composed file is compared with the same flash in the reference.
    const aligned = alignOffsets(ref.offsetsMs, composed.offsetsMs);
    const diffs = aligned?.diffs ?? [];
    console.log(
      `lip sync, flash − beep (ms): reference ${fmt(ref)}; composed ${fmt(composed)}; ` +
        `composed − reference per flash ${diffs.map((x) => x.toFixed(1)).join(' ')} (mean ${mean(diffs).toFixed(1)}, spread ${spread(diffs).toFixed(1)})`,
    );
    expect(problems).toEqual([]);
    expect(ref.offsetsMs.length).toBeGreaterThanOrEqual(4);
    expect(diffs.length).toBeGreaterThanOrEqual(4);
    expect(Math.abs(mean(diffs))).toBeLessThanOrEqual(20);
    expect(spread(diffs)).toBeLessThanOrEqual(33.4);
  }, 240_000);
});
