import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOfferError } from '../../../src/recorder/errors.js';
import { remuxArgs } from '../../../src/recorder/ffmpeg.js';
import { createWebmFileSink } from '../../../src/recorder/file-sink.js';
import { validateOfferSdp } from '../../../src/recorder/recorder-peer.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'media-sinks-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('WebM file sink', () => {
  it('writes chunks in order and opens the file only on first output', async () => {
    const file = path.join(dir, 'a.webm');
    const sink = createWebmFileSink(file, () => undefined);
    expect(sink.opened).toBe(false);
    sink.write({ saveToFile: Buffer.from('abc') });
    sink.write({ saveToFile: Buffer.from('def') });
    await sink.close();
    expect(await readFile(file, 'utf8')).toBe('abcdef');
    expect(sink.bytes).toBe(6);
    expect(sink.error).toBeNull();
  });

  it('reports a failed write once instead of rejecting unhandled', async () => {
    const errors: Error[] = [];
    const sink = createWebmFileSink(path.join(dir, 'missing-dir', 'b.webm'), (e) => errors.push(e));
    sink.write({ saveToFile: Buffer.from('x') });
    sink.write({ saveToFile: Buffer.from('y') });
    await sink.ended;
    await sink.close();
    expect(errors).toHaveLength(1);
    expect(sink.error?.message).toMatch(/ENOENT/);
  });

  it('refuses to overwrite an existing file', async () => {
    const file = path.join(dir, 'a.webm');
    const errors: Error[] = [];
    const sink = createWebmFileSink(file, (e) => errors.push(e));
    sink.write({ saveToFile: Buffer.from('zzz') });
    await sink.close();
    expect(errors[0]?.message).toMatch(/EEXIST/);
    expect(await readFile(file, 'utf8')).toBe('abcdef');
  });
});

describe('offer checks and ffmpeg arguments', () => {
  it.each([
    [''],
    ['hello'],
    ['v=0\r\ns=-\r\n'],
    [`v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n`],
    [42],
    // longer than the wire and the log accept (events/catalog.ts MAX_SDP_LENGTH)
    [`v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:x\r\na=x:${'y'.repeat(64_000)}\r\n`],
  ])(
    'rejects %j before werift sees it',
    (sdp) => {
      expect(() => validateOfferSdp(sdp)).toThrow(InvalidOfferError);
    },
  );

  it('remuxes by stream copy, to Matroska for H.264', () => {
    expect(remuxArgs('in.webm', 'out.tmp')).toEqual([
      '-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-i', 'in.webm', '-map', '0', '-c', 'copy', '-f', 'webm', 'out.tmp',
    ]);
    expect(remuxArgs('in.webm', 'out.tmp', 'matroska').at(-2)).toBe('matroska');
  });
});
