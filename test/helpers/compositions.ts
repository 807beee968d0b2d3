/** Composition jobs through the HTTP API, as a client sees them. */
import type { StoredEvent } from '../../events/envelope.js';
import type { Rect } from '../../src/composer/geometry.js';
import { FFMPEG, run } from '../../tools/lib/compose-fixtures.js';
import type { Rgb } from './compose-analysis.js';
import { compositionStream } from '../../events/streams.js';
import type { EventLog } from '../../src/log/types.js';
import type { HttpClient } from './http.js';
import { poll } from './wait.js';

const ACTIVE = ['queued', 'running'];

/** GET /api/recording-compositions/:id until the job is completed or failed (or timeoutMs); returns the last job read. */
export async function waitForJob(http: HttpClient, jobId: string, timeoutMs = 60_000): Promise<any> {
  return poll(
    async () => (await http.get(`/api/recording-compositions/${jobId}`)).json?.job,
    (j) => j?.status === 'completed' || j?.status === 'failed',
    { timeoutMs, stepMs: 200 },
  );
}

/**
 * POST /api/recording-compositions once no composition of the recording is
 * queued or running (so a test does not depend on an earlier one having
 * finished), then waits for the new job to end. Returns the ended job.
 */
export async function composeAgain(
  http: HttpClient,
  body: { meetingId: string; recordingId: string; layout?: string; format?: string },
  timeoutMs = 60_000,
): Promise<any> {
  await poll(
    async () => (await http.get(`/api/recording-compositions?meetingId=${encodeURIComponent(body.meetingId)}`)).json?.jobs ?? [],
    (jobs: any[]) => !jobs.some((j) => j.recordingId === body.recordingId && (ACTIVE.includes(j.status) || j.state === 'retrying')),
    { timeoutMs, stepMs: 200 },
  );
  const res = await http.post('/api/recording-compositions', body);
  if (res.status !== 202) throw new Error(`POST /api/recording-compositions: ${res.status} ${res.text}`);
  return waitForJob(http, res.json.job.id, timeoutMs);
}

/** Every event of a composition job's stream, from the log, in order. */
export async function jobEvents(log: EventLog, jobId: string): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for await (const { event } of log.read({ stream: compositionStream(jobId) })) out.push(event);
  return out;
}

/**
 * Mean colour of each region in the frames shown at `timesMs` (frame index
 * round(t·fps/1000), as regionMeans counts them), decoding the file once but
 * handing only those frames over: a 1280×720 file is cheap to sample.
 */
export async function regionMeansAt(
  file: string,
  video: { width: number; height: number; fps: number },
  regions: Rect[],
  timesMs: number[],
): Promise<Map<number, Rgb[]>> {
  const indexOf = (t: number) => Math.round((t * video.fps) / 1000);
  const wanted = [...new Set(timesMs.map(indexOf))].sort((a, b) => a - b);
  const select = `select='${wanted.map((n) => `eq(n\\,${n})`).join('+')}'`;
  const r = await run(FFMPEG, [
    '-v', 'error', '-nostdin', '-i', file, '-map', '0:v:0', '-vf', select, '-fps_mode', 'passthrough',
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
  ]);
  if (r.code !== 0) throw new Error(`decoding ${file} failed: ${r.stderr}`);
  const frameBytes = video.width * video.height * 3;
  const byIndex = new Map<number, Rgb[]>();
  wanted.forEach((n, k) => {
    const f = r.stdout.subarray(k * frameBytes, (k + 1) * frameBytes);
    if (f.length < frameBytes) return; // past the last frame
    byIndex.set(
      n,
      regions.map((rect) => {
        let R = 0, G = 0, B = 0;
        for (let y = rect.y; y < rect.y + rect.h; y++) {
          for (let x = rect.x, i = (y * video.width + rect.x) * 3; x < rect.x + rect.w; x++, i += 3) {
            R += f[i]!;
            G += f[i + 1]!;
            B += f[i + 2]!;
          }
        }
        const count = rect.w * rect.h;
        return { r: R / count, g: G / count, b: B / count };
      }),
    );
  });
  return new Map(timesMs.map((t) => [t, byIndex.get(indexOf(t))!] as const).filter(([, v]) => v !== undefined));
}
