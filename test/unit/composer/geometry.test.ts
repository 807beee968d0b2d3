import { describe, expect, it } from 'vitest';
import { fitRect, gridCells, gridShape, inset, rowCells, stageAndStrip, type Rect } from '../../../src/composer/geometry.js';

const canvas: Rect = { x: 0, y: 0, w: 1280, h: 720 };
const overlaps = (a: Rect, b: Rect) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
const even = (r: Rect) => [r.x, r.y, r.w, r.h].every((v) => v % 2 === 0);

describe('grid geometry', () => {
  it.each([
    [1, 1, 1], [2, 2, 1], [3, 2, 2], [4, 2, 2], [5, 3, 2], [6, 3, 2], [7, 3, 3], [9, 3, 3], [10, 4, 3], [12, 4, 3], [13, 4, 4], [16, 4, 4],
  ])('%i tiles → %i×%i', (n, cols, rows) => {
    expect(gridShape(n, 1280, 720)).toEqual({ cols, rows });
  });

  it.each(Array.from({ length: 25 }, (_, i) => i + 1))('%i tiles fit the canvas without overlapping, on even pixels', (n) => {
    const cells = gridCells(n, canvas).map((c) => inset(c));
    expect(cells).toHaveLength(n);
    for (const c of cells) {
      expect(c.x).toBeGreaterThanOrEqual(0);
      expect(c.y).toBeGreaterThanOrEqual(0);
      expect(c.x + c.w).toBeLessThanOrEqual(1280);
      expect(c.y + c.h).toBeLessThanOrEqual(720);
      expect(even(c)).toBe(true);
    }
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) expect(overlaps(cells[i]!, cells[j]!)).toBe(false);
  });

  it('centres an incomplete last row', () => {
    const cells = gridCells(3, canvas);
    expect(cells[2]).toEqual({ x: 320, y: 360, w: 640, h: 360 });
  });

  it('two people are two 640×360 pictures side by side, centred vertically: no tall halves', () => {
    expect(gridCells(2, canvas)).toEqual([
      { x: 0, y: 180, w: 640, h: 360 },
      { x: 640, y: 180, w: 640, h: 360 },
    ]);
    expect(gridCells(1, canvas)).toEqual([canvas]);
  });

  it.each(Array.from({ length: 16 }, (_, i) => i + 1))('%i tiles: 16:9 cells of the largest area any rows × columns allows, centred', (n) => {
    let best = 0;
    for (let cols = 1; cols <= n; cols++)
      for (let rows = 1; rows <= n; rows++) {
        if (cols * rows < n) continue;
        const w = Math.min(1280 / cols, (720 / rows) * (16 / 9));
        best = Math.max(best, w * (w * 9 / 16));
      }
    const cells = gridCells(n, canvas);
    for (const c of cells) {
      expect(Math.abs(c.w / c.h - 16 / 9), JSON.stringify(c)).toBeLessThan(0.02);
      // within the even-pixel rounding of the best
      expect(c.w * c.h).toBeGreaterThan(best * 0.98);
    }
    const top = Math.min(...cells.map((c) => c.y));
    const bottom = Math.max(...cells.map((c) => c.y + c.h));
    expect(Math.abs(top - (720 - bottom))).toBeLessThanOrEqual(2);
    const left = Math.min(...cells.map((c) => c.x));
    const right = Math.max(...cells.map((c) => c.x + c.w));
    expect(Math.abs(left - (1280 - right))).toBeLessThanOrEqual(2);
  });

  it('gives 16 participants 320×180 cells', () => {
    expect(gridCells(16, canvas).every((c) => c.w === 320 && c.h === 180)).toBe(true);
  });
});

describe('stage, strip and rows', () => {
  it('splits the canvas 3/4 stage, 1/4 strip', () => {
    expect(stageAndStrip(1280, 720)).toEqual({ stage: { x: 0, y: 0, w: 1280, h: 540 }, strip: { x: 0, y: 540, w: 1280, h: 180 } });
  });
  it('puts a row of 16:9 cells in the strip, centred', () => {
    const cells = rowCells(3, { x: 0, y: 540, w: 1280, h: 180 });
    expect(cells.map((c) => c.x)).toEqual([160, 480, 800]);
    expect(cells.every((c) => c.w === 320 && c.h === 180 && c.y === 540)).toBe(true);
  });
  it('narrows the cells when many share the row', () => {
    const cells = rowCells(8, { x: 0, y: 540, w: 1280, h: 180 });
    expect(cells.every((c) => c.w === 160)).toBe(true);
    expect(cells[7]!.x + cells[7]!.w).toBeLessThanOrEqual(1280);
  });
});

describe('fitRect', () => {
  const cell = { x: 100, y: 50, w: 640, h: 360 };
  it('fills a cell of the same aspect', () => {
    expect(fitRect(cell, 1280, 720)).toEqual(cell);
  });
  it('pillarboxes portrait video, centred', () => {
    expect(fitRect(cell, 720, 1280)).toEqual({ x: 100 + 218, y: 50, w: 202, h: 360 });
  });
  it('letterboxes 4:3 in a wide strip cell', () => {
    expect(fitRect({ x: 0, y: 0, w: 320, h: 120 }, 640, 480)).toEqual({ x: 80, y: 0, w: 160, h: 120 });
  });
  it('uses the whole cell when the size is unknown', () => {
    expect(fitRect(cell, undefined, undefined)).toEqual(cell);
  });
});
