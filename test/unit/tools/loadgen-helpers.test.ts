import { eventually } from '../../helpers/wait.js';
import { RtpPacket } from 'werift';
import { describe, expect, it } from 'vitest';
import { ClipPlayer } from '../../../tools/lib/clip-player.js';
import { opusPacketSamples, packetizeVp8, parseIvf, parseOggOpus, parseOggPackets, type Clip } from '../../../tools/lib/media-clip.js';
import { summarizeProfile } from '../../../tools/lib/cpuprofile.js';
import { listeningInodes, parseProcStat, parseUdpSnmp } from '../../../tools/lib/proc.js';
import { lossTimeline, parseEventLines, spreadSample, summarizePeerEvents } from '../../../tools/lib/results.js';
import { isLoopbackUrl, median, parseProcStatCpu, pct, roomAssignment } from '../../../tools/lib/util.js';

function ivf(frames: Buffer[]): Buffer {
  const h = Buffer.alloc(32);
  h.write('DKIF', 0, 'ascii');
  h.writeUInt16LE(0, 4);
  h.writeUInt16LE(32, 6);
  h.write('VP80', 8, 'ascii');
  h.writeUInt16LE(640, 12);
  h.writeUInt16LE(360, 14);
  const parts: Buffer[] = [h];
  frames.forEach((f, i) => {
    const fh = Buffer.alloc(12);
    fh.writeUInt32LE(f.length, 0);
    fh.writeBigUInt64LE(BigInt(i), 4);
    parts.push(fh, f);
  });
  return Buffer.concat(parts);
}

function oggPage(serial: number, seq: number, segments: number[], body: Buffer): Buffer {
  const h = Buffer.alloc(27 + segments.length);
  h.write('OggS', 0, 'ascii');
  h.writeUInt32LE(serial, 14);
  h.writeUInt32LE(seq, 18);
  h[26] = segments.length;
  segments.forEach((s, i) => (h[27 + i] = s));
  return Buffer.concat([h, body]);
}

describe('clip parsing and packetizing', () => {
  it('reads IVF frames and tells VP8 keyframes (bit 0 clear) from delta frames', () => {
    const r = parseIvf(ivf([Buffer.from([0x10, 1, 2]), Buffer.from([0x11, 3]), Buffer.alloc(0)]));
    expect(r.fourcc).toBe('VP80');
    expect([r.width, r.height]).toEqual([640, 360]);
    expect(r.frames.map((f) => [f.data.length, f.keyframe])).toEqual([
      [3, true],
      [2, false],
      [0, false],
    ]);
    expect(() => parseIvf(Buffer.alloc(40))).toThrow(/IVF/);
  });

  it('reassembles Ogg packets across lacing values and pages, and skips Opus headers', () => {
    const head = Buffer.from('OpusHead0123456789', 'ascii');
    const tags = Buffer.from('OpusTags', 'ascii');
    const big = Buffer.alloc(300, 7); // 255 + 45: spans two lacing values and two pages
    const small = Buffer.from([0x78, 1, 2]);
    const bytes = Buffer.concat([
      oggPage(5, 0, [head.length], head),
      oggPage(5, 1, [tags.length, 255], Buffer.concat([tags, big.subarray(0, 255)])),
      oggPage(5, 2, [45, 3], Buffer.concat([big.subarray(255), small])),
    ]);
    expect(parseOggPackets(bytes).map((p) => p.length)).toEqual([head.length, tags.length, 300, 3]);
    const opus = parseOggOpus(bytes);
    expect(opus).toHaveLength(2);
    expect(opus[0]!.equals(big)).toBe(true);
  });

  it('knows the duration of an Opus packet from its TOC', () => {
    expect(opusPacketSamples(Buffer.from([0x78]))).toBe(960); // config 15: hybrid FB 20 ms, one frame
    expect(opusPacketSamples(Buffer.from([0xf8]))).toBe(960); // config 31: CELT FB 20 ms
    expect(opusPacketSamples(Buffer.from([0xf9]))).toBe(1920); // two frames
    expect(opusPacketSamples(Buffer.from([0x03, 0x03]))).toBe(1440); // SILK NB 10 ms, code 3 with 3 frames
  });

  it('packetizes a VP8 frame with picture id, S bit on the first packet only, and bounded payloads', () => {
    const frame = Buffer.alloc(2500, 9);
    const p = packetizeVp8(frame, 0x1234, 1000);
    expect(p.map((x) => x.length)).toEqual([1004, 1004, 504]);
    expect(p.map((x) => x[0])).toEqual([0x90, 0x80, 0x80]);
    for (const x of p) expect([x[1], x[2], x[3]]).toEqual([0x80, 0x80 | 0x12, 0x34]);
    expect(Buffer.concat(p.map((x) => x.subarray(4))).equals(frame)).toBe(true);
    expect(packetizeVp8(Buffer.alloc(0), 0x8001)).toHaveLength(1);
    expect(packetizeVp8(Buffer.alloc(1), 0x8001)[0]![3]).toBe(1); // picture id wraps at 15 bits
  });
});

describe('ClipPlayer fan-out', () => {
  it('feeds the same continuous stream to every track, looping the clip without seq/timestamp jumps', async () => {
    const clip: Clip = {
      fps: 50,
      width: 640,
      height: 360,
      video: [
        { data: Buffer.alloc(1500, 1), keyframe: true },
        { data: Buffer.alloc(10, 2), keyframe: false },
      ],
      audio: [Buffer.from([0x78, 1]), Buffer.from([0x78, 2]), Buffer.from([0x78, 3])],
      videoKbps: 0,
      audioKbps: 0,
      encodeCpuSeconds: 0,
      encodeWallMs: 0,
    };
    const sink = () => {
      const got: RtpPacket[] = [];
      return { got, track: { writeRtp: (p: RtpPacket) => got.push(p.clone()) } as any };
    };
    const [v1, v2, a1, a2] = [sink(), sink(), sink(), sink()];
    const player = new ClipPlayer(clip, { audioLevel: () => 30 });
    player.addVideo(v1.track);
    player.addVideo(v2.track);
    player.addAudio(a1.track, 3);
    player.addAudio(a2.track, null);
    player.start();
    // ~200 ms of media, however late a loaded machine runs the player's ticks
    await eventually(() => v1.got.length > 8 && a1.got.length >= 10, 10_000);
    player.stop();

    expect(v1.got.length).toBeGreaterThan(8);
    expect(v1.got.map((p) => p.header.sequenceNumber)).toEqual(v2.got.map((p) => p.header.sequenceNumber));
    const seqs = v1.got.map((p) => p.header.sequenceNumber);
    seqs.slice(1).forEach((s, i) => expect(s).toBe((seqs[i]! + 1) & 0xffff));
    // frame 0 = 2 packets (1100-byte payload cap), frame 1 = 1 packet; marker ends every frame
    expect(v1.got.slice(0, 3).map((p) => p.header.marker)).toEqual([false, true, true]);
    const ts = [...new Set(v1.got.map((p) => p.header.timestamp))];
    ts.slice(1).forEach((t, i) => expect((t - ts[i]! + 2 ** 32) % 2 ** 32).toBe(1800));

    expect(a1.got.length).toBe(a2.got.length);
    expect(a1.got.every((p) => p.header.extensions.length === 1 && p.header.extensions[0]!.id === 3)).toBe(true);
    expect(a2.got.every((p) => p.header.extensions.length === 0)).toBe(true);
    const ats = a1.got.map((p) => p.header.timestamp);
    ats.slice(1).forEach((t, i) => expect((t - ats[i]! + 2 ** 32) % 2 ** 32).toBe(960));
    expect(a1.got.map((p) => p.payload[1])).toEqual(a1.got.map((_, i) => (i % 3) + 1));
    expect(player.stats.writes).toBe(v1.got.length * 2 + a1.got.length * 2);
  });
});

describe('/proc and result parsing', () => {
  it('reads CPU ticks from /proc/<pid>/stat even when the command has spaces and parens', () => {
    const fields = ['S', ...Array.from({ length: 20 }, (_, i) => String(i + 4))];
    // field 14 (utime) = "14", 15 = "15", 16 = "16", 17 = "17"
    expect(parseProcStat(`123 (node (x) y) ${fields.join(' ')}`)).toEqual({ self: 29, children: 33 });
  });

  it('finds listening sockets on a port in /proc/net/tcp', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0',
      '   1: 0100007F:1F90 0100007F:C000 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0',
    ].join('\n');
    expect(listeningInodes(text, 8080)).toEqual(['4242']);
    expect(listeningInodes(text, 8081)).toEqual([]);
  });

  it('computes machine busy ticks from /proc/stat', () => {
    const r = parseProcStatCpu('cpu  10 0 5 78 5 1 1 0 0 0\ncpu0 5 0 2 40 3 0 0 0 0 0\ncpu1 5 0 3 38 2 1 1 0 0 0\n');
    expect(r).toEqual({ cores: 2, busy: 17, total: 100, irq: 2 });
  });

  it('sums peer.media.stats of the run only, overall and within a window', () => {
    const e = (stream: string, type: string, time: number, data: object = {}) => JSON.stringify({ stream, type, time, data });
    const text = [
      e('peer:rec1.p1', 'peer.connected', 1),
      e('peer:rec1.p1', 'peer.media.stats', 5, { packets: 100, bytes: 1000, lost: 1 }),
      e('peer:rec1.p2', 'peer.media.stats', 10, { packets: 50, bytes: 500, lost: 0 }),
      e('peer:other.p1', 'peer.media.stats', 10, { packets: 999, bytes: 1, lost: 9 }),
      e('recording:rec1', 'peer.media.stats', 10, { packets: 999, bytes: 1, lost: 9 }),
      e('peer:rec1.p1', 'peer.closed', 20),
      '{"torn',
    ].join('\n');
    const s = summarizePeerEvents(parseEventLines(text), new Set(['rec1']), 6, 10);
    expect([s.peers, s.packets, s.bytes, s.lost, s.statsEvents, s.connected, s.closed]).toEqual([2, 150, 1500, 1, 2, 1, 1]);
    expect(s.window).toEqual({ packets: 50, lost: 0, statsEvents: 1 });
    const tl = lossTimeline(parseEventLines(text + '\n' + e('peer:rec1.p2', 'peer.failed', 12_000)), new Set(['rec1']), 0);
    expect(tl.buckets).toEqual([{ atS: 5, packets: 150, lost: 1 }]);
    expect(tl.failedAtS).toEqual([12]);
  });

  it('reads UDP receive-buffer drops from /proc/net/snmp', () => {
    const text = 'Ip: Forwarding\nIp: 1\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors\nUdp: 10 0 3 9 3\nUdpLite: InDatagrams\nUdpLite: 0\n';
    expect(parseUdpSnmp(text)).toEqual({ InDatagrams: 10, NoPorts: 0, InErrors: 3, OutDatagrams: 9, RcvbufErrors: 3 });
  });

  it('summarizes a cpuprofile by self and inclusive time, within a window', () => {
    const cf = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0 });
    const profile = {
      nodes: [
        { id: 1, callFrame: cf('(root)'), children: [2, 4] },
        { id: 2, callFrame: cf('outer', 'file:///work/main/src/a.ts'), children: [3] },
        { id: 3, callFrame: cf('inner', 'file:///x/node_modules/werift/lib/index.mjs') },
        { id: 4, callFrame: cf('(idle)') },
      ],
      startTime: 1000,
      endTime: 1100,
      // sample i is at startTime + sum(deltas[0..i]) and lasts until the next sample
      samples: [3, 3, 2, 4, 3],
      timeDeltas: [0, 10, 10, 10, 10],
    };
    const all = summarizeProfile(profile, 5);
    expect(all.sampledMs).toBeCloseTo(0.04);
    expect(all.self.map((r) => [r.name, r.share])).toEqual([
      ['inner werift/index.mjs:1', 0.5],
      ['outer src/a.ts:1', 0.25],
    ]);
    expect(all.inclusive[0]).toEqual({ name: 'outer src/a.ts:1', share: 0.75 });
    expect(all.idleShare).toBe(0.25);
    const win = summarizeProfile(profile, 5, { from: 1015, to: 1035 }); // samples at 1020 and 1030
    expect(win.self.map((r) => r.name)).toEqual(['outer src/a.ts:1']);
    expect(win.idleShare).toBe(0.5);
  });

  it('small helpers', () => {
    expect(isLoopbackUrl('http://127.0.0.1:8080')).toBe(true);
    expect(isLoopbackUrl('http://localhost:1')).toBe(true);
    expect(isLoopbackUrl('http://[::1]:1')).toBe(true);
    expect(isLoopbackUrl('http://10.0.0.1:8080')).toBe(false);
    expect(isLoopbackUrl('http://127.0.0.1.example.com/')).toBe(false);
    expect(roomAssignment(5, 2)).toEqual([0, 1, 0, 1, 0]);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(pct(1, 200)).toBe(0.5);
    expect(pct(1, 0)).toBe(0);
    expect(spreadSample([1, 2, 3, 4, 5, 6], 3)).toEqual([1, 3, 5]);
    expect(spreadSample([1, 2], 5)).toEqual([1, 2]);
  });
});
