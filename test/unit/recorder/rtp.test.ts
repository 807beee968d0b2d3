import { RtpHeader, RtpPacket } from 'werift';
import { describe, expect, it } from 'vitest';
import { createLevelAccumulator } from '../../../src/recorder/audio-levels.js';
import { createReceiveCounter, createRtpClock, createTimestampUnwrapper } from '../../../src/recorder/rtp-stats.js';
import { createPaddingFilter } from '../../../src/recorder/webm-pipeline.js';

const pkt = (seq: number, payload = 10) =>
  new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: 0, payloadType: 96 }), Buffer.alloc(payload, 1));

describe('RTP timestamp helpers', () => {
  it('unwraps across 2^32 and tolerates reordering', () => {
    const u = createTimestampUnwrapper();
    expect(u(0xffff_ff00)).toBe(0xffff_ff00);
    expect(u(0x0000_0100)).toBe(0x1_0000_0100);
    expect(u(0xffff_ff80)).toBe(0xffff_ff80); // late packet from before the wrap
    expect(u(0x0000_0200)).toBe(0x1_0000_0200);
  });

  it('maps timestamps to whole ms from the first one without accumulating rounding', () => {
    const c = createRtpClock(90000);
    c.toMs(1000);
    let last = 0;
    for (let frame = 1; frame <= 900; frame++) last = c.toMs(1000 + frame * 3000); // 30 fps for 30 s
    expect(last).toBe(30000);
    expect(c.toMs(1000 + 3000)).toBe(33);
  });
});

describe('receive counter', () => {
  it('estimates loss from sequence gaps across the 16-bit wrap', () => {
    const r = createReceiveCounter();
    for (const seq of [65530, 65531, 65533, 65535, 0, 1, 3]) r.add(seq, 100);
    expect(r.snapshot()).toEqual({ packets: 7, bytes: 700, expected: 10, lost: 3 });
  });

  it('counts a reordered packet once and never reports negative loss', () => {
    const r = createReceiveCounter();
    for (const seq of [10, 12, 11, 13, 13]) r.add(seq, 1);
    expect(r.snapshot()).toMatchObject({ expected: 4, lost: 0 });
  });
});

describe('padding filter', () => {
  it('drops empty packets and closes the sequence gap they leave', () => {
    const f = createPaddingFilter();
    const out = [pkt(100), pkt(101, 0), pkt(102, 0), pkt(103), pkt(104)].map((p) => f(p));
    expect(out.map((o) => o.packet?.header.sequenceNumber ?? null)).toEqual([100, null, null, 101, 102]);
    expect(out.every((o) => o.lost === 0)).toBe(true);
  });

  it('keeps real loss visible', () => {
    const f = createPaddingFilter();
    const out = [pkt(65534), pkt(65535, 0), pkt(2), pkt(3)].map((p) => f(p));
    expect(out.map((o) => o.lost)).toEqual([0, 0, 2, 0]);
    expect(out.map((o) => o.packet?.header.sequenceNumber ?? null)).toEqual([65534, null, 1, 2]);
  });
});

describe('audio level windows', () => {
  it('keeps the loudest level per window, null where nothing arrived', () => {
    const a = createLevelAccumulator(200);
    a.add(0, 30);
    a.add(100, 10); // louder: -10 dBov
    a.add(250, 127);
    a.add(650, 0);
    expect(a.build(1500, 0, 700)).toEqual({ version: 1, intervalMs: 200, offsetMs: 1500, levels: [-10, -127, null, 0] });
  });

  it('starts at the first written frame', () => {
    const a = createLevelAccumulator(200);
    for (let ms = 0; ms < 1000; ms += 20) a.add(ms, ms < 400 ? 90 : 20);
    expect(a.build(0, 400, 980).levels).toEqual([-20, -20, -20]);
  });
});
