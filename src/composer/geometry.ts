/** Pixel rectangles for tiles; everything even so yuv420p chroma lines up. */
export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

const even = (n: number) => Math.max(2, Math.floor(n / 2) * 2);
const evenPos = (n: number) => Math.max(0, Math.floor(n / 2) * 2);

/** Room between tiles, per side. */
export const TILE_INSET = 2;

export function inset(r: Rect, by = TILE_INSET): Rect {
  return { x: r.x + by, y: r.y + by, w: even(r.w - 2 * by), h: even(r.h - 2 * by) };
}

/**
 * Columns × rows for n tiles of aspect `aspect` in an area, chosen to make the
 * tiles as large as possible: every columns × rows that holds n is tried and
 * the one whose tile (scaled to fit its cell) has the largest area wins
 * (in 1280×720: 2 → 2×1, 3–4 → 2×2, 5–6 → 3×2, 7–9 → 3×3, … 16 → 4×4). On a
 * tie (2 → 2×1 or 1×2, both 640×360) the cells closest to the tile's shape,
 * then more columns: people side by side.
 */
export function gridShape(n: number, w: number, h: number, aspect = 16 / 9): { cols: number; rows: number } {
  let best = { cols: 1, rows: Math.max(1, n), area: -1, misfit: Infinity };
  for (let cols = 1; cols <= Math.max(1, n); cols++) {
    const rows = Math.ceil(n / cols);
    const cw = w / cols;
    const ch = h / rows;
    const tileW = Math.min(cw, ch * aspect);
    const area = tileW * (tileW / aspect);
    // Equal tile sizes: prefer cells closest to the tile's shape (least empty space), then more columns.
    const misfit = Math.abs(Math.log(cw / ch / aspect));
    if (area > best.area + 1 || (Math.abs(area - best.area) <= 1 && misfit <= best.misfit + 1e-9)) best = { cols, rows, area, misfit };
  }
  return { cols: best.cols, rows: best.rows };
}

/**
 * n cells row by row, each the largest `aspect` (16:9) tile the chosen
 * columns × rows allow: the cells are the pictures' size, not the area's
 * slices, so two people side by side are two 640×360 pictures centred in
 * 1280×720, not two tall halves that are mostly letterbox. The block of
 * cells is centred; an incomplete last row is centred in it.
 */
export function gridCells(n: number, area: Rect, aspect = 16 / 9): Rect[] {
  if (n <= 0) return [];
  const { cols, rows } = gridShape(n, area.w, area.h, aspect);
  const tileW = Math.min(area.w / cols, (area.h / rows) * aspect);
  const cw = even(tileW);
  const ch = even(Math.min(area.h / rows, tileW / aspect));
  const top = area.y + evenPos((area.h - ch * rows) / 2);
  const cells: Rect[] = [];
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / cols);
    const inRow = row === rows - 1 ? n - cols * (rows - 1) : cols;
    const left = area.x + evenPos((area.w - cw * inRow) / 2);
    cells.push({ x: left + (i % cols) * cw, y: top + row * ch, w: cw, h: ch });
  }
  return cells;
}

/** n cells side by side in a strip, each at most 16:9 of the strip's height, centred. */
export function rowCells(n: number, area: Rect, aspect = 16 / 9): Rect[] {
  if (n <= 0) return [];
  const cw = even(Math.min(area.w / n, area.h * aspect));
  const left = area.x + evenPos((area.w - cw * n) / 2);
  return Array.from({ length: n }, (_, i) => ({ x: left + i * cw, y: area.y, w: cw, h: even(area.h) }));
}

/** The largest rectangle of the source's aspect ratio inside `cell`, centred. */
export function fitRect(cell: Rect, srcW: number | undefined, srcH: number | undefined): Rect {
  if (!srcW || !srcH) return cell;
  const scale = Math.min(cell.w / srcW, cell.h / srcH);
  const w = Math.min(cell.w, even(srcW * scale));
  const h = Math.min(cell.h, even(srcH * scale));
  return { x: cell.x + evenPos((cell.w - w) / 2), y: cell.y + evenPos((cell.h - h) / 2), w, h };
}

/** Main stage on top and a strip below (host-led, speaker): 3/4 and 1/4 of the height. */
export function stageAndStrip(width: number, height: number): { stage: Rect; strip: Rect } {
  const stageH = even(height * 0.75);
  return {
    stage: { x: 0, y: 0, w: even(width), h: stageH },
    strip: { x: 0, y: stageH, w: even(width), h: even(height - stageH) },
  };
}
