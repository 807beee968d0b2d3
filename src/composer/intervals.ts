/** Half-open time ranges in ms on the recording's timeline: [start, end). */
export interface Interval {
  start: number;
  end: number;
}

/** Sorted, merged, empty ranges dropped. */
export function union(list: readonly Interval[]): Interval[] {
  const sorted = list.filter((i) => i.end > i.start).sort((a, b) => a.start - b.start);
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && i.start <= last.end) last.end = Math.max(last.end, i.end);
    else out.push({ ...i });
  }
  return out;
}

export function intersect(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const x of union(a)) {
    for (const y of union(b)) {
      const start = Math.max(x.start, y.start);
      const end = Math.min(x.end, y.end);
      if (end > start) out.push({ start, end });
    }
  }
  return union(out);
}

export function clip(list: readonly Interval[], start: number, end: number): Interval[] {
  return intersect(list, [{ start, end }]);
}

export function covers(list: readonly Interval[], start: number, end: number): boolean {
  return union(list).some((i) => i.start <= start && i.end >= end);
}

const sec = (ms: number) => Number((ms / 1000).toFixed(4)).toString();

/**
 * An ffmpeg expression true while `t` (seconds) lies in one of the half-open
 * ranges, for a filter's `enable` or `select`: `gte(t,a)*lt(t,b)+…`. `null`
 * means always.
 * The caller quotes it (it contains commas).
 */
export function enableExpr(list: readonly Interval[], whole: Interval): string | null {
  const u = union(list);
  if (u.length === 1 && u[0]!.start <= whole.start && u[0]!.end >= whole.end) return null;
  if (u.length === 0) return '0';
  return u.map((i) => `gte(t,${sec(i.start)})*lt(t,${sec(i.end)})`).join('+');
}

/** `a` without the parts covered by `b`. */
export function subtract(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  let rest = union(a);
  for (const cut of union(b)) {
    const next: Interval[] = [];
    for (const i of rest) {
      if (cut.end <= i.start || cut.start >= i.end) next.push(i);
      else {
        if (cut.start > i.start) next.push({ start: i.start, end: cut.start });
        if (cut.end < i.end) next.push({ start: cut.end, end: i.end });
      }
    }
    rest = next;
  }
  return rest;
}
