import { describe, expect, it } from 'vitest';
import { createWrittenMedia, durationElementOf } from '../../../src/recorder/segment-writer.js';

describe('what reached the disk after a failed write', () => {
  it('the newest frame whose output the sink wrote whole', () => {
    const m = createWrittenMedia();
    m.handed(100); // header + first frame
    m.framed(0, 0);
    m.handed(50);
    m.framed(20, 100);
    expect(m.writtenMs).toBe(0);
    m.handed(50);
    m.framed(40, 150);
    expect(m.writtenMs).toBe(20);
    m.settle(180); // the third frame's output only partly written
    expect(m.writtenMs).toBe(20);
    m.settle(200);
    expect(m.writtenMs).toBe(40);
  });

  it('rewrites the value of werift duration element', () => {
    const template = Uint8Array.from([0x44, 0x89, 0x84, 0x4c, 0xa4, 0xcb, 0x80]);
    const el = durationElementOf(template, 1234);
    expect([...el.subarray(0, 3)]).toEqual([0x44, 0x89, 0x84]);
    expect(el.readFloatBE(3)).toBe(1234);
  });
});
