import type { ReplayResult, TimelineEntry } from './fold.js';

/** One timeline line. */
export function formatEntry(t: TimelineEntry): string {
  const change = t.refused ? `${t.before} (refused)` : t.before === t.after ? t.after : `${t.before} → ${t.after}`;
  return `${String(t.seq).padStart(6)}  ${t.time}  ${t.stream.padEnd(48)} ${t.type.padEnd(28)} ${change}${t.summary ? `  · ${t.summary}` : ''}`;
}

/** The human-readable report. */
export function formatReplay(r: ReplayResult): string {
  return ['TIMELINE', ...r.timeline.map(formatEntry), '', formatOutcome(r)].join('\n');
}

/** What follows the timeline: the counts, every actor's final state, the problems. */
export function formatOutcome(r: ReplayResult): string {
  const out: string[] = [];
  out.push(`${r.events} events read, ${r.shown} shown`);
  out.push('');
  out.push('FINAL STATE');
  for (const f of r.finals) {
    const c = f.context as Record<string, any>;
    const extra =
      f.stream.startsWith('composition:') && c.output
        ? ` output ${c.output.file}`
        : c.problem
          ? ` (${c.problem})`
          : c.error
            ? ` (${c.error})`
            : '';
    out.push(`  ${f.stream.padEnd(48)} ${f.state}${extra}`);
  }
  out.push('');
  if (r.problems.length === 0) {
    out.push('No problems found.');
  } else {
    out.push(`PROBLEMS (${r.problems.length}); the first thing that went wrong:`);
    r.problems.forEach((p, i) => {
      out.push(`${i === 0 ? '>>' : '  '} #${p.seq} ${p.what}`);
      for (const d of p.detail) out.push(`       ${d}`);
      if (p.ledTo.length) {
        out.push('     led to by:');
        for (const l of p.ledTo) out.push(`       #${l.seq} ${l.stream} ${l.type}${l.summary ? `  · ${l.summary}` : ''}`);
      }
    });
  }
  return out.join('\n');
}
