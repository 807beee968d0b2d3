import type { RecordedCodec } from './codecs.js';

/**
 * Picture size from a keyframe's bitstream, so the WebM track header carries
 * the real size instead of werift's 640×360 default. Returns null when the
 * frame is not a keyframe or cannot be parsed (the caller falls back).
 */
export function videoFrameSize(codec: RecordedCodec, frame: Buffer): { width: number; height: number } | null {
  try {
    switch (codec) {
      case 'vp8':
        return vp8Size(frame);
      case 'vp9':
        return vp9Size(frame);
      case 'h264':
        return h264Size(frame);
      default:
        return null;
    }
  } catch {
    return null;
  }
}

function vp8Size(f: Buffer) {
  // RFC 6386 9.1: 3-byte frame tag (bit 0 = 0 on keyframes), start code 9d 01 2a, 14-bit width/height.
  if (f.length < 10 || (f[0]! & 0x01) !== 0) return null;
  if (f[3] !== 0x9d || f[4] !== 0x01 || f[5] !== 0x2a) return null;
  const width = f.readUInt16LE(6) & 0x3fff;
  const height = f.readUInt16LE(8) & 0x3fff;
  return width > 0 && height > 0 ? { width, height } : null;
}

class BitReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  bit(): number {
    const byte = this.buf[this.pos >> 3];
    if (byte === undefined) throw new Error('end of data');
    const b = (byte >> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return b;
  }
  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }
  /** Exp-Golomb unsigned. */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 31) throw new Error('bad exp-golomb');
    }
    return (1 << zeros) - 1 + (zeros ? this.bits(zeros) : 0);
  }
  se(): number {
    const k = this.ue();
    return k & 1 ? (k + 1) / 2 : -(k / 2);
  }
}

function vp9Size(f: Buffer) {
  // VP9 bitstream spec 6.2 uncompressed_header, up to frame_size() of a keyframe.
  const r = new BitReader(f);
  if (r.bits(2) !== 2) return null;
  const low = r.bit();
  const high = r.bit();
  const profile = (high << 1) | low;
  if (profile === 3) r.bit();
  if (r.bit() === 1) return null; // show_existing_frame
  if (r.bit() !== 0) return null; // not a keyframe
  r.bit(); // show_frame
  r.bit(); // error_resilient_mode
  if (r.bits(24) !== 0x498342) return null;
  if (profile >= 2) r.bit();
  const colorSpace = r.bits(3);
  if (colorSpace !== 7) {
    r.bit();
    if (profile === 1 || profile === 3) r.bits(3);
  } else if (profile === 1 || profile === 3) {
    r.bit();
  }
  const width = r.bits(16) + 1;
  const height = r.bits(16) + 1;
  return { width, height };
}

/** Removes H.264 emulation-prevention bytes (00 00 03 → 00 00). */
function unescapeRbsp(nal: Buffer): Buffer {
  const out: number[] = [];
  let zeros = 0;
  for (const b of nal) {
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Buffer.from(out);
}

/** NAL units of an Annex-B access unit (werift's H.264 depacketizer emits start codes). */
function annexBNals(f: Buffer): Buffer[] {
  const starts: number[] = [];
  for (let i = 0; i + 2 < f.length; i++) {
    if (f[i] === 0 && f[i + 1] === 0 && f[i + 2] === 1) {
      starts.push(i + 3);
      i += 2;
    }
  }
  return starts.map((s, k) => f.subarray(s, k + 1 < starts.length ? starts[k + 1]! - 3 : f.length));
}

function h264Size(f: Buffer) {
  const sps = annexBNals(f).find((n) => n.length > 4 && (n[0]! & 0x1f) === 7);
  if (!sps) return null;
  const r = new BitReader(unescapeRbsp(sps.subarray(1, Math.min(sps.length, 256))));
  const profile = r.bits(8);
  r.bits(16); // constraint flags, level
  r.ue(); // seq_parameter_set_id
  let chromaFormat = 1;
  if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profile)) {
    chromaFormat = r.ue();
    if (chromaFormat === 3) r.bit();
    r.ue();
    r.ue();
    r.bit();
    if (r.bit()) {
      for (let i = 0; i < (chromaFormat !== 3 ? 8 : 12); i++) {
        if (!r.bit()) continue;
        let last = 8;
        let next = 8;
        for (let j = 0; j < (i < 6 ? 16 : 64) && next !== 0; j++) {
          next = (last + r.se() + 256) % 256;
          if (next !== 0) last = next;
        }
      }
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) r.ue();
  else if (pocType === 1) {
    r.bit();
    r.se();
    r.se();
    const n = r.ue();
    for (let i = 0; i < n; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.bit(); // gaps_in_frame_num_value_allowed_flag
  const wMbs = r.ue() + 1;
  const hMapUnits = r.ue() + 1;
  const frameMbsOnly = r.bit();
  if (!frameMbsOnly) r.bit();
  r.bit(); // direct_8x8_inference_flag
  let [cl, cr, ct, cb] = [0, 0, 0, 0];
  if (r.bit()) [cl, cr, ct, cb] = [r.ue(), r.ue(), r.ue(), r.ue()];
  const subW = chromaFormat === 1 || chromaFormat === 2 ? 2 : 1;
  const subH = chromaFormat === 1 ? 2 : 1;
  const cropX = chromaFormat === 0 ? 1 : subW;
  const cropY = (chromaFormat === 0 ? 1 : subH) * (2 - frameMbsOnly);
  const width = wMbs * 16 - cropX * (cl + cr);
  const height = (2 - frameMbsOnly) * hMapUnits * 16 - cropY * (ct + cb);
  return width > 0 && height > 0 ? { width, height } : null;
}
