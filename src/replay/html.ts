import type { Problem } from './fold.js';
import type { Timeline } from './timeline.js';

/** JSON safe inside a <script> element: no `</script>`, no `<!--`. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * One self-contained HTML page (inline CSS, script and data; nothing fetched)
 * with the timeline picture of each recording, drawn by the console's own
 * renderer (public/console-timeline.js, passed in as its source), and the
 * problems the replay found. Deterministic: the same inputs, the same bytes.
 */
export function timelineReportHtml(opts: { timelines: Timeline[]; problems: Problem[]; rendererSource: string; title: string; source: string }): string {
  const { timelines, problems, rendererSource, title, source } = opts;
  const sections = timelines
    .map((t, i) => {
      const when = t.startedAt !== null ? new Date(t.startedAt).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : 'unknown start';
      return `<section class="rec"><h2>Recording ${esc(t.recordingId)}</h2>
<p class="meta">room <b>${esc(t.roomId ?? '?')}</b> · ${esc(when)} · ${Math.round(t.durationMs / 1000)} s · ${esc(t.state)}${t.stopReason ? ` (${esc(t.stopReason)})` : ''} · ${t.lanes.length} participant(s) · ${t.events} events</p>
<div class="timeline" data-index="${i}"></div></section>`;
    })
    .join('\n');
  const problemList = problems.length
    ? `<ol class="problems">${problems
        .map((p, i) => `<li${i === 0 ? ' class="first"' : ''}><b>#${p.seq}</b> ${esc(p.what)}${p.detail.map((d) => `<div class="d">${esc(d)}</div>`).join('')}</li>`)
        .join('')}</ol>`
    : '<p>No problems found.</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body { margin: 0 auto; max-width: 1200px; padding: 16px; font: 15px/1.45 system-ui, sans-serif; color: #111827; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 24px 0 2px; }
.meta, .src { color: #374151; margin: 2px 0 8px; } .problems .first { font-weight: 600; } .problems .d { font-weight: 400; color: #374151; font-family: ui-monospace, monospace; font-size: 13px; }
</style>
</head><body>
<h1>${esc(title)}</h1>
<p class="src">From ${esc(source)} · ${timelines.length} recording(s) · made by <code>npm run replay -- --html</code></p>
${sections || '<p>No recording in this log.</p>'}
<h2>Problems</h2>
${problemList}
<script type="application/json" id="timelines">${scriptJson(timelines)}</script>
<script type="module">
${rendererSource}
const style = document.createElement('style');
style.textContent = TIMELINE_CSS;
document.head.appendChild(style);
const timelines = JSON.parse(document.getElementById('timelines').textContent);
const redraws = [...document.querySelectorAll('.timeline')].map((el) => renderTimeline(el, timelines[Number(el.dataset.index)]));
let pending = 0;
addEventListener('resize', () => { clearTimeout(pending); pending = setTimeout(() => redraws.forEach((r) => r()), 150); });
</script>
</body></html>
`;
}
