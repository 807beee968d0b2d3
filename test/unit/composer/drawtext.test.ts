import { describe, expect, it } from 'vitest';
import { escapeDrawtext, escapeGraphValue, escapeOptionValue, namePlateFilter, placeholderNameFilter, plateText } from '../../../src/composer/drawtext.js';

/** ffmpeg's av_get_token (libavutil/avstring.c): how the graph and option parsers read a value back. */
function avGetToken(buf: string, term: string): { token: string; rest: string } {
  let p = 0;
  while (p < buf.length && ' \n\t\r'.includes(buf[p]!)) p++;
  let out = '';
  let end = 0;
  while (p < buf.length && !term.includes(buf[p]!)) {
    const c = buf[p++]!;
    if (c === '\\' && p < buf.length) {
      out += buf[p++];
      end = out.length;
    } else if (c === "'") {
      while (p < buf.length && buf[p] !== "'") out += buf[p++];
      if (p < buf.length) {
        p++;
        end = out.length;
      }
    } else out += c;
  }
  while (out.length > end && ' \n\t\r'.includes(out[out.length - 1]!)) out = out.slice(0, -1);
  return { token: out, rest: buf.slice(p) };
}

/** What drawtext receives as `text` from `drawtext=...:text=<escaped>:...` inside a filtergraph. */
function parsedText(filter: string): string {
  const args = avGetToken(filter.slice('drawtext='.length), '[],;').token; // graph level
  let rest = args;
  while (rest.length > 0) {
    const eq = rest.indexOf('=');
    const key = rest.slice(0, eq);
    const { token, rest: after } = avGetToken(rest.slice(eq + 1), ':'); // option level
    if (key === 'text') return token;
    rest = after.startsWith(':') ? after.slice(1) : after;
  }
  throw new Error('no text option');
}

const nasty = [
  "O'Brien",
  'Dr. Who: The Return',
  'back\\slash\\\\double',
  'brackets [a] {b}, semi; colon: done',
  "all at once: '\\[;,]'=%{pts}",
  '  spaced   out  ',
  'émoji 🎙 and ünïcödé',
];

describe('drawtext escaping', () => {
  it('escapes the option level: backslash, quote, colon', () => {
    expect(escapeOptionValue("a'b:c\\d")).toBe("a\\'b\\:c\\\\d");
  });

  it('escapes the graph level: backslash, quote, brackets, comma, semicolon', () => {
    expect(escapeGraphValue("a\\'[b],c;d")).toBe("a\\\\\\'\\[b\\]\\,c\\;d");
  });

  it('matches the example of the ffmpeg documentation', () => {
    // ffmpeg-filters "Notes on filtergraph escaping".
    expect(escapeDrawtext("this is a 'string': may contain one, or more, special characters")).toBe(
      "this is a \\\\\\'string\\\\\\'\\\\: may contain one\\, or more\\, special characters",
    );
  });

  it.each(nasty)('round-trips %j through both parsers unchanged', (name) => {
    const text = plateText(name, 200);
    const filter = namePlateFilter(name, { x: 0, y: 0, w: 4000, h: 360 }, '/fonts/a b:c.ttf', null);
    expect(parsedText(filter)).toBe(text);
    expect(filter).toContain(':expansion=none:');
  });

  it('keeps drawtext expansion off so %{…} is literal', () => {
    expect(placeholderNameFilter('%{localtime}', { x: 0, y: 0, w: 640, h: 360 }, '/f.ttf', null)).toMatch(/expansion=none/);
  });

  it('adds a quoted enable expression', () => {
    const f = namePlateFilter('A', { x: 10, y: 20, w: 320, h: 180 }, '/f.ttf', 'gte(t,1)*lt(t,2)');
    expect(f.endsWith(":enable='gte(t,1)*lt(t,2)'")).toBe(true);
    expect(avGetToken(f, '[],;').rest).toBe('');
  });
});

describe('plateText', () => {
  it('replaces control characters and collapses whitespace', () => {
    expect(plateText('a\nb\tc\u0000d  e', 50)).toBe('a b c d e');
  });
  it('cuts long names with an ellipsis, by characters not bytes', () => {
    expect(plateText('abcdefghij', 5)).toBe('abcd…');
    expect(plateText('🎙🎙🎙🎙🎙🎙', 4)).toBe('🎙🎙🎙…');
  });
  it('never draws nothing', () => {
    expect(plateText('   ', 10)).toBe('?');
  });
});
