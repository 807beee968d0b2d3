import type { Rect } from './geometry.js';

export const DEFAULT_FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';

/**
 * A value for one filter option (`key=value` inside a filter's argument list):
 * `\`, `'` and `:` are escaped (ffmpeg-filters "Notes on filtergraph escaping", level 1).
 */
export function escapeOptionValue(value: string): string {
  return value.replace(/[\\':]/g, (c) => `\\${c}`);
}

/** A filter's arguments inside a filtergraph: `\ ' [ ] , ;` are escaped (level 2). */
export function escapeGraphValue(value: string): string {
  return value.replace(/[\\'[\],;]/g, (c) => `\\${c}`);
}

/** Both levels, for drawtext's `text=` and `fontfile=`. drawtext must also get `expansion=none`. */
export function escapeDrawtext(value: string): string {
  return escapeGraphValue(escapeOptionValue(value));
}

/**
 * A name as it may be drawn: control characters become spaces, whitespace is
 * collapsed, and a name too wide for `maxChars` is cut with an ellipsis.
 */
export function plateText(name: string, maxChars: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = name.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').replace(/\s+/g, ' ').trim() || '?';
  const chars = [...clean];
  const max = Math.max(1, Math.floor(maxChars));
  return chars.length <= max ? clean : `${chars.slice(0, Math.max(1, max - 1)).join('')}…`;
}

export interface TextStyle {
  fontFile: string;
  fontSize: number;
}

/** Average DejaVu Sans glyph width is about 0.6 em. */
const charsFitting = (width: number, fontSize: number) => (width - fontSize) / (fontSize * 0.6);

export function plateFontSize(tile: Rect): number {
  return Math.max(10, Math.min(28, Math.round(tile.h / 12)));
}

export function placeholderFontSize(tile: Rect): number {
  return Math.max(12, Math.min(48, Math.round(tile.h / 8)));
}

function drawtext(text: string, opts: string[], fontFile: string, enable: string | null): string {
  const parts = [
    `fontfile=${escapeDrawtext(fontFile)}`,
    `expansion=none`,
    `text=${escapeDrawtext(text)}`,
    ...opts,
  ];
  if (enable !== null) parts.push(`enable='${enable}'`);
  return `drawtext=${parts.join(':')}`;
}

/** Name plate: bottom-left of the tile, white on a translucent dark box. */
export function namePlateFilter(name: string, tile: Rect, fontFile: string, enable: string | null): string {
  const size = plateFontSize(tile);
  const pad = Math.max(3, Math.round(size / 4));
  const text = plateText(name, charsFitting(tile.w, size));
  return drawtext(
    text,
    [
      `fontsize=${size}`,
      `fontcolor=white`,
      `box=1`,
      `boxcolor=black@0.55`,
      `boxborderw=${pad}`,
      `x=${tile.x + pad * 2}`,
      `y=${tile.y + tile.h - size - pad * 3}`,
    ],
    fontFile,
    enable,
  );
}

/** Placeholder for a present participant without video: their name centred in the tile. */
export function placeholderNameFilter(name: string, tile: Rect, fontFile: string, enable: string | null): string {
  const size = placeholderFontSize(tile);
  const text = plateText(name, charsFitting(tile.w, size));
  return drawtext(
    text,
    [
      `fontsize=${size}`,
      `fontcolor=0xd0d0d0`,
      `x=${tile.x}+(${tile.w}-text_w)/2`,
      `y=${tile.y}+(${tile.h}-text_h)/2`,
    ],
    fontFile,
    enable,
  );
}
