import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { audioLevelsSchema, segmentMetaSchema, type SegmentMeta } from '../../events/segment.js';
import { createRecorderPeer } from '../../src/recorder/recorder-peer.js';
import { InvalidCandidateError, InvalidOfferError, PeerStateError } from '../../src/recorder/errors.js';
import { connectSender, probeFile, testLogger } from '../helpers/media-harness.js';
import { createSyntheticSender, type SyntheticSender } from '../helpers/sender.js';
import { removeDir, tempDir } from '../helpers/tmp.js';
import { poll, sleep } from '../helpers/wait.js';

// Timing tolerances: honest on a shared 2-core machine, far tighter than a frame drift would allow over minutes.
const DURATION_TOLERANCE_MS = 300;
const OFFSET_TOLERANCE_MS = 300;

const roots: string[] = [];
const senders: SyntheticSender[] = [];
afterEach(async () => {
  await Promise.all(senders.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await Promise.all(roots.map(removeDir));
});

async function newRoot(): Promise<string> {
  const r = await tempDir('recorder-test-');
  roots.push(r);
  return r;
}

function track(opts: Parameters<typeof createSyntheticSender>[0]): SyntheticSender {
  const s = createSyntheticSender(opts);
  senders.push(s);
  return s;
}

async function readMeta(root: string, meta: SegmentMeta): Promise<SegmentMeta> {
  const json = await readFile(path.join(root, meta.meetingId, meta.file.replace(/\.webm$/, '.json')), 'utf8');
  return segmentMetaSchema.parse(JSON.parse(json));
}

describe('RecorderPeer with a synthetic sender', () => {
  it('records audio + VP8: decodable files, durations and offsets from RTP, levels sidecar', async () => {
    const root = await newRoot();
    const recordingStartedAt = Date.now();
    const sender = track({ video: 'vp8', audio: true, durationMs: 5000, width: 320, height: 240, startOnConnect: false });
    const pair = await connectSender(sender, { root, recordingStartedAt });

    // While connected but silent, the sidecars do not exist yet: a segment starts with its first packet.
    await sleep(Math.max(0, recordingStartedAt + 1500 - Date.now()));
    await sender.start();
    await sender.finished;
    await poll(async () => pair.peer.segments().reduce((n, m) => n + m.packets, 0), (n) => n >= ((sender.stats.audio?.packets ?? 0) + (sender.stats.video?.packets ?? 0)), { timeoutMs: 3000, stepMs: 20 }); // every packet sent has reached its segment (or 3 s)
    const metas = await pair.peer.close('test done');

    expect(metas).toHaveLength(2);
    const sent = { audio: sender.stats.audio!, video: sender.stats.video! };
    for (const meta of metas) {
      const onDisk = await readMeta(root, meta);
      expect(onDisk).toEqual(meta);
      expect(meta.finalized).toBe(true);
      expect(meta.segmentIndex).toBe(0);
      expect(meta.participantName).toBe('Alice');
      const s = sent[meta.kind];
      const file = path.join(root, 'meeting-1', meta.file);
      const probed = await probeFile(file);
      expect(probed.decodeErrors).toBe('');
      // Sent span is first→last packet timestamp; a file also holds the last frame's duration.
      const frameMs = meta.kind === 'audio' ? 20 : 1000 / 30;
      expect(Math.abs(meta.durationMs! - (s.spanMs + frameMs))).toBeLessThan(DURATION_TOLERANCE_MS);
      expect(Math.abs(probed.durationMs! - meta.durationMs!)).toBeLessThan(50);
      // The real start: when the sender handed its first packet to the wire, ~1.5 s into the recording.
      expect(Math.abs(meta.offsetMs - (s.firstSentAt! - recordingStartedAt))).toBeLessThan(OFFSET_TOLERANCE_MS);
      expect(meta.offsetMs).toBeGreaterThan(1500 - OFFSET_TOLERANCE_MS);
      expect(meta.packets).toBeGreaterThan(0.95 * s.packets);
      if (meta.kind === 'video') {
        expect(probed).toMatchObject({ codec: 'vp8', width: 320, height: 240 });
        expect(probed.decodedFrames).toBeGreaterThanOrEqual(147); // 150 sent, loopback
        expect(meta.levelsFile).toBeNull();
      } else {
        expect(probed.codec).toBe('opus');
        expect(meta.levelsFile).not.toBeNull();
        const levels = audioLevelsSchema.parse(
          JSON.parse(await readFile(path.join(root, 'meeting-1', meta.levelsFile!), 'utf8')),
        );
        expect(levels.offsetMs).toBe(meta.offsetMs);
        expect(levels.levels.length).toBe(Math.floor(meta.durationMs! / 200) + 1);
        // The sender stamps -20 dBov for 1 s, then -90 dBov for 1 s (media time): windows 0-4 loud, 5-9 quiet.
        expect(levels.levels.slice(0, 5)).toEqual([-20, -20, -20, -20, -20]);
        expect(levels.levels.slice(5, 10)).toEqual([-90, -90, -90, -90, -90]);
        expect(levels.levels.slice(10, 15)).toEqual([-20, -20, -20, -20, -20]);
      }
    }

    const types = pair.events.map((e) => e.type);
    expect(types.filter((t) => t === 'connection-changed').length).toBeGreaterThanOrEqual(1);
    expect(pair.ofType('connection-changed').map((e) => e.state)).toContain('connected');
    expect(pair.ofType('track-received').map((e) => `${e.kind}:${e.codec}`).sort()).toEqual(['audio:opus', 'video:vp8']);
    expect(pair.ofType('track-first-packet')).toHaveLength(2);
    expect(pair.ofType('segment-started')).toHaveLength(2);
    expect(pair.ofType('segment-finalized').every((e) => e.mediaWritten)).toBe(true);
    expect(pair.ofType('closed')).toEqual([expect.objectContaining({ reason: 'test done', segments: 2 })]);
    // One stats sample per 5 s the peer lived (~7 s here, longer on a loaded machine), never an event per packet.
    const stats = pair.ofType('stats-sampled');
    const livedMs = pair.ofType('closed')[0]!.at - recordingStartedAt;
    expect(stats.length).toBeGreaterThanOrEqual(1);
    expect(stats.length).toBeLessThanOrEqual(Math.floor(livedMs / 5_000));
    expect(pair.events.length - stats.length).toBeLessThan(18);
    expect(stats[0]!.tracks.find((t) => t.kind === 'video')!.lost).toBe(0);

    // close() is idempotent.
    expect(await pair.peer.close('again')).toEqual(metas);
  });

  it.each(['vp9', 'h264'] as const)('records %s decodably', async (codec) => {
    const root = await newRoot();
    const sender = track({ video: codec, audio: false, durationMs: 2500, width: 320, height: 240 });
    const pair = await connectSender(sender, { root, recordingStartedAt: Date.now() });
    await sender.finished;
    await poll(async () => pair.peer.segments().reduce((n, m) => n + m.packets, 0), (n) => n >= ((sender.stats.audio?.packets ?? 0) + (sender.stats.video?.packets ?? 0)), { timeoutMs: 3000, stepMs: 20 }); // every packet sent has reached its segment (or 3 s)
    const [meta] = await pair.peer.close('done');
    expect(meta).toMatchObject({ kind: 'video', codec, finalized: true });
    const probed = await probeFile(path.join(root, 'meeting-1', meta!.file));
    expect(probed).toMatchObject({ codec, width: 320, height: 240, decodeErrors: '' });
    expect(probed.decodedFrames).toBeGreaterThanOrEqual(72); // 75 sent
    expect(Math.abs(meta!.durationMs! - (sender.stats.video!.spanMs + 1000 / 30))).toBeLessThan(DURATION_TOLERANCE_MS);
  });

  it('a replacement peer continues the numbering in new files; the first segment stays finalized', async () => {
    const root = await newRoot();
    const recordingStartedAt = Date.now();
    const first = track({ video: 'vp8', audio: true, durationMs: 2000, width: 320, height: 240 });
    const a = await connectSender(first, { root, recordingStartedAt });
    await first.finished;
    // The client renegotiates: the caller closes the old peer and opens a new one with the next index.
    const metasA = await a.peer.close('renegotiated');
    const second = track({ video: 'vp8', audio: true, durationMs: 2000, width: 320, height: 240 });
    const b = await connectSender(second, { root, recordingStartedAt, segmentBase: { audio: 1, video: 1 } });
    await second.finished;
    await poll(async () => b.peer.segments().reduce((n, m) => n + m.packets, 0), (n) => n >= ((second.stats.audio?.packets ?? 0) + (second.stats.video?.packets ?? 0)), { timeoutMs: 3000, stepMs: 20 }); // every packet sent has reached its segment (or 3 s)
    const metasB = await b.peer.close('stopped');

    for (const kind of ['audio', 'video'] as const) {
      const [m0] = metasA.filter((m) => m.kind === kind);
      const [m1] = metasB.filter((m) => m.kind === kind);
      expect(m0).toMatchObject({ segmentIndex: 0, finalized: true });
      expect(m1).toMatchObject({ segmentIndex: 1, finalized: true });
      expect(m1!.file).not.toBe(m0!.file);
      expect(m1!.offsetMs).toBeGreaterThan(m0!.offsetMs + m0!.durationMs! - OFFSET_TOLERANCE_MS);
      for (const m of [m0!, m1!]) {
        expect(await readMeta(root, m)).toEqual(m);
        const probed = await probeFile(path.join(root, 'meeting-1', m.file));
        expect(probed.decodeErrors).toBe('');
        expect(probed.durationMs).toBeGreaterThan(1500);
      }
    }
  });

  it('a video track that never sends a keyframe finalizes promptly, keeping only its sidecar', async () => {
    const root = await newRoot();
    const sender = track({ video: 'vp8', audio: true, durationMs: 10_000, width: 320, height: 240, dropVideoKeyframes: true });
    const pair = await connectSender(sender, { root, recordingStartedAt: Date.now() });
    // Media flows for a while (both tracks reach the recorder) while every keyframe is withheld.
    const flowing = () => pair.peer.segments().filter((m) => m.packets > 0).length === 2 && sender.stats.video!.droppedKeyframePackets > 0;
    await expect.poll(flowing, { timeout: 10_000 }).toBe(true);
    await sender.stopMedia();
    await poll(async () => pair.peer.segments().reduce((n, m) => n + m.packets, 0), (n) => n >= ((sender.stats.audio?.packets ?? 0) + (sender.stats.video?.packets ?? 0)), { timeoutMs: 3000, stepMs: 20 }); // every packet sent has reached its segment (or 3 s)
    const started = Date.now();
    const metas = await pair.peer.close('left');
    expect(Date.now() - started).toBeLessThan(4000);

    const video = metas.find((m) => m.kind === 'video')!;
    expect(video).toMatchObject({ finalized: true, durationMs: null });
    expect(video.packets).toBeGreaterThan(0);
    expect(existsSync(path.join(root, 'meeting-1', video.file))).toBe(false);
    expect(await readMeta(root, video)).toEqual(video);
    const finalized = pair.ofType('segment-finalized');
    expect(finalized.find((e) => e.kind === 'video')!.mediaWritten).toBe(false);

    const audio = metas.find((m) => m.kind === 'audio')!;
    expect(Math.abs(audio.durationMs! - sender.stats.audio!.spanMs)).toBeLessThan(DURATION_TOLERANCE_MS);
    expect((await probeFile(path.join(root, 'meeting-1', audio.file))).decodeErrors).toBe('');
  });

  it('a sender that stops early is reported stalled and still finalizes what it sent', async () => {
    const root = await newRoot();
    const sender = track({ video: 'vp8', audio: true, durationMs: 1500, width: 320, height: 240 });
    const pair = await connectSender(sender, { root, recordingStartedAt: Date.now(), stallTimeoutMs: 1000 });
    await sender.finished;
    // Mid-recording the sidecars already describe the segments, not yet finalized.
    for (const m of pair.peer.segments()) {
      expect(await readMeta(root, m)).toMatchObject({ finalized: false, durationMs: null, file: m.file });
    }
    await expect.poll(() => pair.ofType('track-stalled').length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(pair.ofType('track-stalled').map((e) => e.kind).sort()).toEqual(['audio', 'video']);
    const started = Date.now();
    const metas = await pair.peer.close('participant left');
    expect(Date.now() - started).toBeLessThan(4000);
    for (const m of metas) {
      expect(Math.abs(m.durationMs! - 1500)).toBeLessThan(DURATION_TOLERANCE_MS);
      expect((await probeFile(path.join(root, 'meeting-1', m.file))).decodeErrors).toBe('');
    }
  });

  it('keeps the recording when ffprobe/ffmpeg are missing at finalize', async () => {
    const root = await newRoot();
    const sender = track({ video: false, audio: true, durationMs: 1000 });
    const pair = await connectSender(sender, {
      root,
      recordingStartedAt: Date.now(),
      ffprobePath: '/nonexistent/ffprobe',
      ffmpegPath: '/nonexistent/ffmpeg',
      logger: pino({ level: 'silent' }), // the errors it logs are the point
    });
    await sender.finished;
    await poll(async () => pair.peer.segments().reduce((n, m) => n + m.packets, 0), (n) => n >= ((sender.stats.audio?.packets ?? 0) + (sender.stats.video?.packets ?? 0)), { timeoutMs: 3000, stepMs: 20 }); // every packet sent has reached its segment (or 3 s)
    const [meta] = await pair.peer.close('done');
    expect(meta).toMatchObject({ finalized: true, kind: 'audio' });
    expect(Math.abs(meta!.durationMs! - (sender.stats.audio!.spanMs + 20))).toBeLessThan(DURATION_TOLERANCE_MS);
    // werift's own output, unremuxed, still decodes (ffmpeg only warns about its unknown-size clusters).
    const probed = await probeFile(path.join(root, 'meeting-1', meta!.file));
    expect(probed.decodeErrors).not.toMatch(/Invalid|corrupt|error while decoding/i);
    expect(probed.decodedFrames).toBe(meta!.packets);
  });

  // How long "no media" may last is the peer machine's rule (machines/peer.ts MEDIA_TIMEOUT_MS); the recorder reports the facts.
  it('reports no first packet when a connected peer receives nothing, and writes nothing', async () => {
    const root = await newRoot();
    const sender = track({ video: 'vp8', audio: true, durationMs: 1000, startOnConnect: false });
    const pair = await connectSender(sender, { root, recordingStartedAt: Date.now() });
    await expect.poll(() => pair.ofType('connection-changed').some((e) => e.state === 'connected') && pair.ofType('track-received').length > 0, { timeout: 10_000 }).toBe(true);
    expect(pair.ofType('connection-changed').map((e) => e.state)).toContain('connected');
    expect(pair.ofType('track-received').length).toBeGreaterThan(0);
    expect(pair.ofType('track-first-packet')).toHaveLength(0);
    expect(await pair.peer.close('no media')).toEqual([]);
    expect(existsSync(path.join(root, 'meeting-1'))).toBe(true);
    expect(readdirSync(path.join(root, 'meeting-1'))).toEqual([]);
  });

  it('survives loss NACK cannot repair: video freezes until the next keyframe and stays decodable', async () => {
    const root = await newRoot();
    const sender = track({ video: 'vp8', audio: false, durationMs: 3000, width: 320, height: 240, videoKbps: 300, videoLossRate: 0.03 });
    const pair = await connectSender(sender, { root, recordingStartedAt: Date.now(), statsIntervalMs: 1000 });
    await sender.finished;
    await expect.poll(() => pair.ofType('stats-sampled').filter((e) => e.at > sender.stats.video!.lastSentAt!).length, { timeout: 10_000 }).toBeGreaterThan(0);
    const [meta] = await pair.peer.close('done');
    // At least what the sender dropped (more when a loaded machine drops UDP on top).
    expect(sender.stats.video!.lostOnPurpose).toBeGreaterThan(0);
    expect(pair.ofType('stats-sampled').at(-1)!.tracks[0]!.lost).toBeGreaterThanOrEqual(sender.stats.video!.lostOnPurpose - 1); // a dropped last packet leaves no gap
    expect(meta!.durationMs).toBeGreaterThan(0);
    const probed = await probeFile(path.join(root, 'meeting-1', meta!.file));
    expect(probed.decodeErrors).toBe('');
    expect(probed.decodedFrames).toBeGreaterThan(0);
  });

  it('rejects invalid offers and candidates with typed errors, without crashing', async () => {
    const root = await newRoot();
    const events: unknown[] = [];
    const make = () =>
      createRecorderPeer({
        root,
        meetingId: 'meeting-1',
        recordingId: 'rec-1',
        participantId: 'bob',
        role: 'participant',
        recordingStartedAt: Date.now(),
        segmentBase: 0,
        ice: { iceServers: [], loopbackOnly: true },
        logger: testLogger,
        onEvent: (e) => events.push(e),
        onLocalCandidate: () => undefined,
      });

    const p1 = make();
    await expect(p1.handleOffer('not sdp at all')).rejects.toBeInstanceOf(InvalidOfferError);
    await expect(p1.handleOffer('v=0\r\n')).rejects.toMatchObject({ code: 'invalid-state' });
    await p1.close('bad offer');

    const p2 = make();
    const broken = [
      'v=0',
      'o=- 1 1 IN IP4 0.0.0.0',
      's=-',
      't=0 0',
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      'a=ice-ufrag:abcd',
      'a=rtpmap:96 nonsense',
      '',
    ].join('\r\n');
    await expect(p2.handleOffer(broken)).rejects.toMatchObject({ code: 'invalid-offer' });
    await p2.close('bad offer');

    const p3 = make();
    await expect(p3.addRemoteCandidate({ candidate: 'candidate:garbage' })).rejects.toBeInstanceOf(InvalidCandidateError);
    await expect(p3.addRemoteCandidate({ candidate: '' })).resolves.toBeUndefined();
    // A well-formed candidate before the offer is buffered, not applied.
    await expect(
      p3.addRemoteCandidate({
        candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0',
        sdpMid: '0',
        sdpMLineIndex: 0,
      }),
    ).resolves.toBeUndefined();
    const sender = track({ video: 'vp8', audio: false, durationMs: 500 });
    const answer = await p3.handleOffer(await sender.createOffer());
    expect(answer).toMatch(/^v=0/);
    await expect(p3.handleOffer(await sender.createOffer())).rejects.toBeInstanceOf(PeerStateError);
    expect(await p3.close('done')).toEqual([]);
    await expect(p3.addRemoteCandidate({ candidate: '' })).rejects.toMatchObject({ code: 'peer-closed' });
    expect(events.filter((e) => (e as { type: string }).type === 'closed')).toHaveLength(3);
  });
});
