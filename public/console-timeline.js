// The timeline picture of one recording (GET /api/recording-sessions/:id/timeline):
// one lane per participant, drawn as SVG. Used by the console and inlined as
// is into the report `npm run replay -- --html` writes: it depends on nothing.

const SVG = 'http://www.w3.org/2000/svg';
const LANE_H = 58;
const AXIS_H = 26;

const MARK_LABEL = {
  'no-media': 'no media',
  'no-offer': 'no offer',
  'failed-peer': 'peer failed',
  gap: 'gap',
  'composition-failed': 'composition failed',
  'recording-failed': 'recording failed',
  interrupted: 'interrupted',
  'write-failed': 'write failed',
};

function el(name, attrs = {}, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

function html(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** "1:05", "1:02:03" */
export function clock(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function tickStep(endMs, px) {
  const wanted = endMs / Math.max(2, Math.floor(px / 90));
  for (const s of [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]) if (s * 1000 >= wanted) return s * 1000;
  return 14400_000;
}

function describeMark(m) {
  const box = html('div', { class: 'tl-mark-detail', 'data-mark-detail': m.kind });
  box.appendChild(html('h4', {}, `${MARK_LABEL[m.kind] ?? m.kind} at ${clock(m.atMs)}${m.endMs ? `–${clock(m.endMs)}` : ''}: ${m.title}`));
  if (m.detail.length) {
    const ul = html('ul', { class: 'tl-detail-lines' });
    for (const d of m.detail) ul.appendChild(html('li', {}, d));
    box.appendChild(ul);
  }
  if (m.events.length) {
    box.appendChild(html('p', { class: 'tl-led' }, 'Events behind it (causation chain, oldest first):'));
    const ol = html('ol', { class: 'tl-events' });
    for (const e of m.events) {
      const li = html('li', { 'data-event-type': e.type });
      li.appendChild(html('code', {}, `#${e.seq}`));
      li.appendChild(document.createTextNode(` ${e.time ? e.time.slice(11, 23) : ''} `));
      li.appendChild(html('strong', {}, e.type));
      li.appendChild(document.createTextNode(` ${e.stream}${e.summary ? ` · ${e.summary}` : ''}`));
      ol.appendChild(li);
    }
    box.appendChild(ol);
  } else {
    box.appendChild(html('p', { class: 'tl-led' }, 'Found from the track files, not named by one event.'));
  }
  return box;
}

/**
 * Draws `timeline` into `container` (emptied first) at the container's width;
 * a mark hovered, focused or clicked shows its events below the picture.
 * Returns a function that draws it again (on resize).
 */
export function renderTimeline(container, timeline) {
  const draw = () => {
    container.textContent = '';
    const width = Math.max(320, container.clientWidth || 960);
    const label = Math.min(150, Math.round(width * 0.26));
    const plot = width - label - 12;
    const end = Math.max(1000, timeline.endMs);
    const x = (ms) => label + (Math.max(0, ms) / end) * plot;
    const w = (a, b) => Math.max(1.5, x(b) - x(a));
    const rows = [...timeline.lanes.map((l) => ({ lane: l })), { compositions: timeline.compositions }];
    const height = AXIS_H + rows.length * LANE_H + 8;
    const svg = el('svg', { class: 'tl-svg', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `Timeline of recording ${timeline.recordingId}` });
    el('rect', { x: 0, y: 0, width, height, fill: '#ffffff' }, svg);

    // time axis, and the stop as a line across every lane
    const step = tickStep(end, plot);
    for (let t = 0; t <= end; t += step) {
      el('line', { x1: x(t), x2: x(t), y1: AXIS_H - 6, y2: height, class: 'tl-grid' }, svg);
      el('text', { x: x(t) + 2, y: AXIS_H - 10, class: 'tl-tick' }, svg).textContent = clock(t);
    }
    el('line', { x1: x(timeline.durationMs), x2: x(timeline.durationMs), y1: AXIS_H - 6, y2: height, class: 'tl-stop' }, svg);

    const details = html('div', { class: 'tl-details', 'aria-live': 'polite' });
    details.appendChild(html('p', { class: 'tl-hint' }, 'Hover or click a mark to see the events behind it.'));
    let pinned = null;
    const show = (m, g, pin) => {
      if (pinned && !pin) return;
      if (pin) {
        pinned?.classList.remove('tl-pinned');
        pinned = pinned === g ? null : g;
        pinned?.classList.add('tl-pinned');
      }
      details.textContent = '';
      details.appendChild(describeMark(m));
    };
    const addMark = (parent, m, y) => {
      const g = el('g', { class: `tl-mark tl-mark-${m.kind}`, 'data-mark-kind': m.kind, tabindex: 0, role: 'button', 'aria-label': `${MARK_LABEL[m.kind] ?? m.kind}: ${m.title}` }, parent);
      el('title', {}, g).textContent = `${MARK_LABEL[m.kind] ?? m.kind} at ${clock(m.atMs)}: ${m.title}`;
      if (m.endMs) el('rect', { x: x(m.atMs), y: y - 3, width: w(m.atMs, m.endMs), height: 6, class: 'tl-mark-span' }, g);
      const cx = x(m.atMs);
      el('path', { d: `M${cx} ${y - 8} L${cx + 8} ${y} L${cx} ${y + 8} L${cx - 8} ${y} Z`, class: 'tl-mark-shape' }, g);
      g.addEventListener('mouseenter', () => show(m, g, false));
      g.addEventListener('focus', () => show(m, g, false));
      g.addEventListener('click', () => show(m, g, true));
      g.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === ' ') {
          ev.preventDefault();
          show(m, g, true);
        }
      });
    };

    rows.forEach((row, i) => {
      const y = AXIS_H + i * LANE_H;
      const g = el('g', { class: 'tl-lane' }, svg);
      if (i % 2 === 1) el('rect', { x: 0, y, width, height: LANE_H, class: 'tl-zebra' }, g);
      if (row.lane) {
        const l = row.lane;
        g.setAttribute('data-lane', l.participantId);
        const name = el('text', { x: 6, y: y + 22, class: 'tl-name' }, g);
        name.textContent = (l.name ?? l.participantId).slice(0, 22);
        el('text', { x: 6, y: y + 38, class: 'tl-role' }, g).textContent = `${l.role}${l.peer ? ` · ${l.peer.state}` : ''}`;
        for (const p of l.presence) {
          const r = el('rect', { x: x(p.startMs), y: y + 4, width: w(p.startMs, p.endMs), height: LANE_H - 8, rx: 4, class: 'tl-presence', 'data-presence': p.began }, g);
          el('title', {}, r).textContent = `${p.began} at ${clock(p.startMs)}, ${p.leftReason ? `left (${p.leftReason})` : 'present'} at ${clock(p.endMs)}`;
        }
        for (const s of l.segments) {
          const sy = s.kind === 'audio' ? y + 14 : y + 26;
          const r = el('rect', { x: x(s.startMs), y: sy, width: w(s.startMs, s.endMs), height: 9, class: `tl-seg tl-seg-${s.kind}`, 'data-segment-kind': s.kind }, g);
          el('title', {}, r).textContent = `${s.kind} segment ${s.segmentIndex} (${s.codec}) ${clock(s.startMs)}–${clock(s.endMs)}${s.open ? ', still being written' : ''}: ${s.file}`;
        }
        for (const c of l.cameraOff) {
          const r = el('rect', { x: x(c.startMs), y: y + 26, width: w(c.startMs, c.endMs), height: 9, class: 'tl-camera-off', 'data-camera-off': '' }, g);
          el('title', {}, r).textContent = `camera off ${clock(c.startMs)}–${clock(c.endMs)}`;
        }
        for (const s of l.speech) el('rect', { x: x(s.startMs), y: y + 39, width: w(s.startMs, s.endMs), height: 6, class: 'tl-speech', 'data-speech': '' }, g);
        for (const m of l.marks) addMark(g, m, y + 10);
      } else {
        g.setAttribute('data-lane', 'composition');
        el('text', { x: 6, y: y + 22, class: 'tl-name' }, g).textContent = 'Composition';
        el('text', { x: 6, y: y + 38, class: 'tl-role' }, g).textContent = `${row.compositions.length} job${row.compositions.length === 1 ? '' : 's'}`;
        for (const j of row.compositions) {
          for (const a of j.attempts) {
            const r = el('rect', { x: x(a.startMs), y: y + 16, width: w(a.startMs, a.endMs), height: 16, rx: 3, class: `tl-attempt tl-attempt-${a.outcome}`, 'data-attempt': a.outcome }, g);
            el('title', {}, r).textContent = `${j.jobId} attempt ${a.attempt} (${j.layout}/${j.format}): ${a.outcome}${a.outcome === 'running' ? ` ${a.percent}%` : ''}${a.error ? `: ${a.error}` : ''}`;
          }
        }
        for (const m of timeline.marks) addMark(g, m, y + 10);
      }
    });

    container.appendChild(svg);
    const legend = html('p', { class: 'tl-legend' });
    for (const [cls, text] of [
      ['tl-presence', 'present'],
      ['tl-seg-audio', 'audio'],
      ['tl-seg-video', 'video'],
      ['tl-camera-off', 'camera off'],
      ['tl-speech', 'speaking'],
      ['tl-mark-shape', 'problem'],
    ]) {
      const item = html('span', { class: 'tl-key' });
      item.appendChild(html('i', { class: cls }));
      item.appendChild(document.createTextNode(text));
      legend.appendChild(item);
    }
    container.appendChild(legend);
    container.appendChild(details);
  };
  draw();
  return draw;
}

/** The CSS the picture needs: the console and the report both add it to their page. */
export const TIMELINE_CSS = `
.tl-svg { display: block; max-width: 100%; font: 12px system-ui, sans-serif; }
.tl-grid { stroke: #e3e6ea; }
.tl-stop { stroke: #b42318; stroke-dasharray: 4 3; }
.tl-tick { fill: #4a5361; font-size: 11px; }
.tl-zebra { fill: #f6f8fa; }
.tl-name { fill: #111827; font-weight: 600; font-size: 13px; }
.tl-role { fill: #4a5361; font-size: 11px; }
.tl-presence { fill: #dbeafe; stroke: #93c5fd; }
.tl-seg-audio { fill: #15803d; }
.tl-seg-video { fill: #1d4ed8; }
.tl-camera-off { fill: #9ca3af; opacity: 0.7; }
.tl-speech { fill: #7c2d12; }
.tl-attempt-completed { fill: #15803d; }
.tl-attempt-running { fill: #ca8a04; }
.tl-attempt-failed, .tl-attempt-timed-out { fill: #b42318; }
.tl-attempt-lost { fill: #6b7280; }
.tl-mark { cursor: pointer; outline: none; }
.tl-mark-shape { fill: #b42318; stroke: #fff; stroke-width: 1.5; }
.tl-mark-gap .tl-mark-shape { fill: #c2410c; }
.tl-mark-span { fill: #c2410c; opacity: 0.5; }
.tl-mark:hover .tl-mark-shape, .tl-mark:focus .tl-mark-shape, .tl-pinned .tl-mark-shape { stroke: #111827; stroke-width: 2.5; }
.tl-legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 6px 0; color: #374151; font-size: 13px; }
.tl-key i { display: inline-block; width: 14px; height: 10px; margin-right: 5px; vertical-align: middle; border-radius: 2px; }
.tl-key i.tl-presence { background: #dbeafe; border: 1px solid #93c5fd; }
.tl-key i.tl-seg-audio { background: #15803d; }
.tl-key i.tl-seg-video { background: #1d4ed8; }
.tl-key i.tl-camera-off { background: #9ca3af; }
.tl-key i.tl-speech { background: #7c2d12; }
.tl-key i.tl-mark-shape { background: #b42318; transform: rotate(45deg) scale(0.8); }
.tl-details { border: 1px solid #d1d5db; border-radius: 6px; padding: 8px 12px; background: #fcfcfd; color: #111827; font-size: 13px; overflow-wrap: anywhere; }
.tl-details h4 { margin: 2px 0 6px; font-size: 14px; }
.tl-events { margin: 4px 0; padding-left: 22px; }
.tl-events li { margin: 2px 0; }
.tl-hint, .tl-led { color: #4a5361; margin: 4px 0; }
`;
