// The console's recordings: a searchable list (GET /api/recordings merged with
// the sessions), and one recording's panel: the composed video, its
// composition attempts, "compose again", the timeline picture and the track files.
import { jobRow } from './console-live.js';
import { clock, renderTimeline } from './console-timeline.js';

const h = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
};

async function api(path, init) {
  const res = await fetch(path, { headers: { accept: 'application/json', ...(init?.body ? { 'content-type': 'application/json' } : {}) }, ...init });
  const body = await res.json().catch(() => ({ success: false, message: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error(body.message ?? `HTTP ${res.status}`);
  return body;
}

const size = (n) => (n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n / 1e3)} kB`);
const nameOf = (p) => p?.name ?? p?.participantId ?? '—';

export function createRecordings({ onError }) {
  let rows = [];
  let jobs = [];
  let selected = null;
  let redraw = null;
  const tbody = document.querySelector('#recordings tbody');
  const search = document.getElementById('search');

  /** The sessions the server knows and the recordings on disk, one row per recording. */
  async function load() {
    const [rec, ses, comp] = await Promise.all([api('/api/recordings'), api('/api/recording-sessions'), api('/api/recording-compositions')]);
    jobs = comp.jobs;
    const byId = new Map();
    for (const s of ses.sessions) {
      byId.set(s.id, {
        recordingId: s.id,
        roomId: s.connectionId,
        startedAt: s.startedAt,
        durationMs: s.stoppedAt ? Date.parse(s.stoppedAt) - Date.parse(s.startedAt) : null,
        host: s.participants.find((p) => p.role === 'host') ?? null,
        participants: s.participants,
        size: 0,
        status: s.state,
        files: null,
      });
    }
    for (const r of rec.recordings) {
      if (!r.recordingId) continue;
      const row = byId.get(r.recordingId) ?? { recordingId: r.recordingId, roomId: r.meetingId, status: 'on disk', participants: [] };
      Object.assign(row, {
        roomId: r.meetingId,
        startedAt: row.startedAt ?? r.startedAt,
        durationMs: r.durationMs ?? row.durationMs ?? null,
        host: r.host ?? row.host ?? null,
        // the session's list (from the log) is in joining order, host first; the files' listing is the fallback
        participants: row.participants.length ? row.participants : r.participants,
        size: r.size,
        files: r,
      });
      byId.set(r.recordingId, row);
    }
    rows = [...byId.values()].sort((a, b) => String(b.startedAt).localeCompare(String(a.startedAt)));
    render();
    if (selected) await showDetail(selected, { keepScroll: true });
  }

  function matches(r, q) {
    if (!q) return true;
    const text = [r.roomId, r.recordingId, r.startedAt, r.status, nameOf(r.host), ...r.participants.map(nameOf)].join(' ').toLowerCase();
    return q.toLowerCase().split(/\s+/).every((w) => text.includes(w));
  }

  function render() {
    tbody.textContent = '';
    const shown = rows.filter((r) => matches(r, search.value.trim()));
    document.getElementById('recordings-empty').hidden = shown.length > 0;
    document.getElementById('recordings-empty').textContent = rows.length ? 'No recording matches.' : 'No recordings yet.';
    for (const r of shown) {
      const tr = h(
        'tr',
        { class: `recording${r.recordingId === selected ? ' selected' : ''}`, 'data-recording-id': r.recordingId, 'data-status': r.status, tabindex: 0 },
        h('td', { 'data-label': 'Room' }, r.roomId ?? '—'),
        h('td', { 'data-label': 'Date' }, r.startedAt ? new Date(r.startedAt).toLocaleString() : '—'),
        h('td', { 'data-label': 'Host' }, nameOf(r.host)),
        h('td', { 'data-label': 'Participants' }, r.participants.map(nameOf).join(', ') || '—'),
        h('td', { 'data-label': 'Duration' }, r.durationMs !== null && r.durationMs !== undefined ? clock(r.durationMs) : '—'),
        h('td', { 'data-label': 'Size' }, r.size ? size(r.size) : '—'),
        h('td', { 'data-label': 'Status', class: `status status-${r.status}` }, r.status),
      );
      tr.addEventListener('click', () => showDetail(r.recordingId));
      tr.addEventListener('keydown', (e) => e.key === 'Enter' && showDetail(r.recordingId));
      tbody.append(tr);
    }
  }
  search.addEventListener('input', render);

  async function showDetail(recordingId, { keepScroll = false } = {}) {
    const first = selected !== recordingId;
    selected = recordingId;
    const row = rows.find((r) => r.recordingId === recordingId);
    if (!row) return;
    for (const tr of tbody.querySelectorAll('tr')) tr.classList.toggle('selected', tr.dataset.recordingId === recordingId);
    const panel = document.getElementById('detail');
    panel.hidden = false;
    panel.dataset.recordingId = recordingId;
    document.getElementById('detail-h').textContent = `Recording of ${row.roomId ?? '?'}`;
    document.getElementById('detail-meta').textContent = `${recordingId} · ${row.startedAt ? new Date(row.startedAt).toLocaleString() : ''} · ${row.status}`;

    const composed = row.files?.composed?.[0];
    const player = document.getElementById('player');
    player.hidden = !composed;
    document.getElementById('player-none').hidden = !!composed;
    if (composed && player.dataset.file !== composed.filename) {
      player.dataset.file = composed.filename;
      player.src = composed.streamUrl;
    }
    const tracks = document.getElementById('tracks');
    tracks.textContent = '';
    for (const t of row.files?.tracks ?? []) {
      tracks.append(h('li', { 'data-kind': t.kind ?? '' }, h('a', { href: t.downloadUrl }, t.filename), ` ${nameOf(t)} · ${t.kind ?? '?'} ${t.codec ?? ''} · ${t.durationMs !== null ? clock(t.durationMs) : '?'} · ${size(t.size)}`));
    }
    if (!tracks.children.length) tracks.append(h('li', { class: 'empty' }, 'No track files.'));
    renderAttempts();
    if (first && !keepScroll) panel.scrollIntoView({ behavior: 'smooth', block: 'start' });
    await loadTimeline(recordingId);
  }

  function renderAttempts() {
    const box = document.getElementById('attempts');
    box.textContent = '';
    const mine = jobs.filter((j) => j.recordingId === selected);
    if (!mine.length) box.append(h('p', { class: 'empty' }, 'Not composed.'));
    for (const j of mine) {
      box.append(jobRow({ ...j, jobId: j.id, percent: j.progress, attempt: j.attempts }));
      for (const f of j.failures ?? []) box.append(h('p', { class: 'failure' }, `attempt ${f.attempt} failed: ${f.error}`));
    }
  }

  async function loadTimeline(recordingId) {
    const box = document.getElementById('timeline');
    try {
      const { timeline } = await api(`/api/recording-sessions/${encodeURIComponent(recordingId)}/timeline`);
      if (selected !== recordingId) return;
      box.dataset.recordingId = recordingId;
      redraw = renderTimeline(box, timeline);
    } catch (err) {
      box.textContent = '';
      box.append(h('p', { class: 'empty' }, `No timeline: ${err.message}`));
      redraw = null;
    }
  }
  let pending = 0;
  addEventListener('resize', () => {
    clearTimeout(pending);
    pending = setTimeout(() => redraw?.(), 150);
  });

  document.getElementById('compose-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const row = rows.find((r) => r.recordingId === selected);
    const out = document.getElementById('compose-result');
    if (!row) return;
    const body = { meetingId: row.roomId, recordingId: row.recordingId, layout: document.getElementById('compose-layout').value, format: document.getElementById('compose-format').value };
    try {
      const r = await api('/api/recording-compositions', { method: 'POST', body: JSON.stringify(body) });
      out.textContent = `Queued ${r.job.id} (${r.job.layout}/${r.job.format}).`;
      out.dataset.job = r.job.id;
    } catch (err) {
      out.textContent = `Not queued: ${err.message}`;
      onError?.(err);
    }
  });

  /** Live progress of this recording's jobs from a pushed state (no fetch per push). */
  function liveJobs(state) {
    let changed = false;
    for (const live of state.compositions) {
      const j = jobs.find((x) => x.id === live.jobId);
      if (j && (j.progress !== live.percent || j.state !== live.state)) {
        Object.assign(j, { progress: live.percent, state: live.state, attempts: live.attempt });
        changed = true;
      }
    }
    if (changed && selected) renderAttempts();
  }

  return { load, liveJobs, get selected() { return selected; } };
}
