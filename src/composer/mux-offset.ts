import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Format } from '../../events/catalog.js';
import { runProcess } from '../process/run.js';
import { codecArgs } from './args.js';

/**
 * How much earlier than its video the output's muxer puts the decoded audio
 * (ms), measured once per ffmpeg binary and format on a tiny file whose audio
 * and video both start at 0.
 *
 * Why: ffmpeg 5.1 (Debian 12's) writes WebM with Opus so that, read back, the
 * sound is 6.5 ms early against the picture: libopus's first packet carries
 * its 312-sample codec delay at a negative timestamp; the muxer either shifts
 * every stream later to make it non-negative (the video then lands 6.5 ms
 * late) or, when nothing is negative, the demuxer takes the codec delay off
 * the audio (6.5 ms early). MP4 with AAC reads back exact (edit list). Another
 * ffmpeg build may do either; measuring it is cheaper than knowing every one.
 * The composer moves its mixed audio this much later (GraphSpec.audioShiftMs),
 * which puts both at their time.
 */
/** The most a muxer is believed to misplace audio by; a larger reading is a broken probe, not a muxer. */
export const MAX_MUX_AUDIO_LEAD_MS = 50;

export async function measureMuxAudioLead(ffmpeg: string, ffprobe: string, format: Format): Promise<number> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mux-offset-'));
  const file = path.join(dir, `probe.${format}`);
  try {
    const enc = await runProcess(
      ffmpeg,
      [
        '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
        '-f', 'lavfi', '-i', 'color=c=black:s=64x64:r=30:d=0.5',
        '-f', 'lavfi', '-i', 'sine=f=1000:r=48000:d=0.5',
        // No filtergraph: this is not a composition (tests that fail composer runs on purpose count those).
        '-map', '0:v', '-map', '1:a', '-ac', '2',
        ...codecArgs(format, { fps: 30, threads: 1 }),
        '-t', '0.5', file,
      ],
      { timeoutMs: 30_000 },
    );
    if (enc.exitCode !== 0) throw new Error(`ffmpeg exited ${enc.exitCode}: ${enc.stderr.join(' ').slice(0, 300)}`);
    const first = async (stream: 'v' | 'a') => {
      const r = await runProcess(ffprobe, ['-v', 'error', '-select_streams', `${stream}:0`, '-show_entries', 'frame=pts_time', '-of', 'csv=p=0', file], {
        timeoutMs: 30_000,
      });
      const v = Number.parseFloat(r.stdout.toString().trim().split('\n')[0] ?? '');
      if (r.exitCode !== 0 || !Number.isFinite(v)) throw new Error(`ffprobe found no first ${stream === 'v' ? 'video' : 'audio'} frame`);
      return v * 1000;
    };
    const lead = (await first('v')) - (await first('a'));
    return Math.round(lead * 1000) / 1000;
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

const measured = new Map<string, Promise<number>>();

/**
 * measureMuxAudioLead once per (ffmpeg, format) in this process, as the shift
 * to apply: 0 when the audio is not early (a late one would need the video
 * moved, which no build seen needs), when the reading is implausible, or when
 * the probe fails (told to onError, and measured again next time; composing
 * goes on as before).
 */
export function muxAudioShift(ffmpeg: string, ffprobe: string, format: Format, onError: (err: unknown) => void): Promise<number> {
  const key = `${ffmpeg}\0${ffprobe}\0${format}`;
  let p = measured.get(key);
  if (!p) {
    p = measureMuxAudioLead(ffmpeg, ffprobe, format).then((lead) => {
      if (lead > MAX_MUX_AUDIO_LEAD_MS) throw new Error(`the muxer reads audio back ${lead} ms early: more than ${MAX_MUX_AUDIO_LEAD_MS} ms, not applied`);
      return Math.max(0, lead);
    });
    measured.set(key, p);
  }
  return p.catch((err) => {
    if (measured.get(key) === p) measured.delete(key);
    onError(err);
    return 0;
  });
}
