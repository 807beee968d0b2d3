/**
 * Wires a synthetic sender straight to a RecorderPeer (no signaling server):
 * offer → answer, candidates both ways, events collected.
 */
import pino from 'pino';
import { runProcess } from '../../src/process/run.js';
import { createRecorderPeer } from '../../src/recorder/recorder-peer.js';
import type { RecorderPeer, RecorderPeerEvent, RecorderPeerOptions } from '../../src/recorder/types.js';
import type { SyntheticSender } from './sender.js';

export const testLogger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });

export interface RecordingPair {
  peer: RecorderPeer;
  events: RecorderPeerEvent[];
  ofType<T extends RecorderPeerEvent['type']>(type: T): Extract<RecorderPeerEvent, { type: T }>[];
}

export type PeerOverrides = Partial<Omit<RecorderPeerOptions, 'onEvent' | 'onLocalCandidate'>> &
  Pick<RecorderPeerOptions, 'root' | 'recordingStartedAt'>;

/** Creates a recorder peer for `sender`, negotiates, and resolves once the sender is connected. */
export async function connectSender(sender: SyntheticSender, o: PeerOverrides): Promise<RecordingPair> {
  const events: RecorderPeerEvent[] = [];
  const peer = createRecorderPeer({
    meetingId: 'meeting-1',
    recordingId: 'rec-1',
    participantId: 'alice',
    participantName: 'Alice',
    role: 'host',
    segmentBase: 0,
    ice: { iceServers: [], loopbackOnly: true },
    logger: testLogger,
    ...o,
    onEvent: (e) => events.push(e),
    onLocalCandidate: (c) => void sender.addRemoteCandidate(c).catch(() => undefined),
  });
  sender.onLocalCandidate((c) => void peer.addRemoteCandidate(c).catch(() => undefined));
  const answer = await peer.handleOffer(await sender.createOffer());
  await sender.acceptAnswer(answer);
  await sender.connected;
  return {
    peer,
    events,
    ofType: <T extends RecorderPeerEvent['type']>(type: T) =>
      events.filter((e): e is Extract<RecorderPeerEvent, { type: T }> => e.type === type),
  };
}

export interface ProbedFile {
  codec: string;
  width: number | null;
  height: number | null;
  durationMs: number | null;
  /** Frames (video) or packets (audio) ffmpeg decoded without error. */
  decodedFrames: number;
  decodeErrors: string;
}

/** ffprobe's view of a file plus a full decode (ffmpeg -f null) to prove it plays. */
export async function probeFile(file: string): Promise<ProbedFile> {
  const probed = await runProcess('ffprobe', [
    '-v', 'error',
    '-count_frames',
    '-show_entries', 'format=duration:stream=codec_name,width,height,nb_read_frames',
    '-of', 'json',
    file,
  ]);
  if (probed.exitCode !== 0) throw new Error(`ffprobe ${file} failed: ${probed.stderr.join('\n')}`);
  const j = JSON.parse(probed.stdout.toString('utf8')) as {
    format: { duration?: string };
    streams: { codec_name: string; width?: number; height?: number; nb_read_frames?: string }[];
  };
  const s = j.streams[0]!;
  // every line of stderr: any decode error in it fails the caller's check
  const decoded = await runProcess('ffmpeg', ['-v', 'error', '-nostdin', '-i', file, '-f', 'null', '-'], { keepLines: 100_000 });
  const decodeErrors = decoded.stderr.join('\n') || (decoded.exitCode !== 0 ? 'ffmpeg failed' : '');
  const d = Number(j.format.duration);
  return {
    codec: s.codec_name,
    width: s.width ?? null,
    height: s.height ?? null,
    durationMs: Number.isFinite(d) ? Math.round(d * 1000) : null,
    decodedFrames: Number(s.nb_read_frames ?? 0),
    decodeErrors: decodeErrors.trim(),
  };
}
