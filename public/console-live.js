// The live view of the console: open rooms, their members, each running
// recording with its recorder peers (state, bitrate and packets lost per
// track), elapsed time, and the composition jobs, redrawn from each `state`
// the server pushes (GET /api/console/events).
import { clock } from './console-timeline.js';

const h = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
};

const PEER_WORDS = {
  idle: 'not asked yet',
  requested: 'asked for media',
  negotiating: 'negotiating',
  connected: 'connected, waiting for media',
  flowing: 'recording',
  failed: 'failed',
  'no-media': 'no media',
  'no-offer': 'no offer',
  closing: 'finalizing files',
  closed: 'closed',
};
const BAD = new Set(['failed', 'no-media', 'no-offer']);

function trackText(t) {
  const rate = t.bitrateKbps === null ? '…' : t.bitrateKbps >= 1000 ? `${(t.bitrateKbps / 1000).toFixed(1)} Mbps` : `${t.bitrateKbps} kbps`;
  return `${t.kind} ${t.codec} · ${rate} · ${t.lost} lost`;
}

function peerRow(p) {
  const state = p.peer?.state ?? 'none';
  const tracks = h('td', { class: 'tracks' });
  for (const t of p.peer?.tracks ?? []) tracks.append(h('span', { class: `track track-${t.kind}`, 'data-kind': t.kind, 'data-lost': t.lost, 'data-bitrate': t.bitrateKbps ?? '' }, trackText(t)));
  if (p.peer?.stalled?.length) tracks.append(h('span', { class: 'track stalled' }, `${p.peer.stalled.join(' + ')} stalled`));
  return h(
    'tr',
    { class: 'peer', 'data-participant': p.participantId, 'data-peer-state': state, 'data-active': p.active },
    h('td', { class: 'who' }, p.name ?? p.participantId, p.role === 'host' ? h('span', { class: 'badge' }, 'host') : ''),
    h('td', { class: `state ${BAD.has(state) ? 'bad' : state === 'flowing' ? 'good' : ''}`, title: p.peer?.problem ?? '' }, PEER_WORDS[state] ?? state, p.peer?.problem ? h('small', {}, p.peer.problem) : ''),
    tracks,
  );
}

function recordingBox(rec, offset) {
  const box = h('div', { class: 'rec', 'data-recording-id': rec.recordingId, 'data-state': rec.state });
  const elapsed = h('span', { class: 'elapsed', 'data-started-at': rec.startedAt ?? '' }, rec.startedAt ? clock(Date.now() - offset - rec.startedAt) : '0:00');
  box.append(h('p', { class: 'rec-head' }, h('span', { class: 'dot' }), `${rec.state === 'recording' ? 'Recording' : rec.state} `, elapsed, ` · ${rec.layout}/${rec.format}`));
  if (rec.liveComposition) {
    const pct = Math.round(Number(rec.liveComposition.percent ?? 0));
    box.append(h('p', { class: 'live-compose' }, 'Live composition ', h('progress', { max: 100, value: pct }), ` ${pct}%`));
  }
  const table = h('table', { class: 'peers' }, h('thead', {}, h('tr', {}, h('th', {}, 'Participant'), h('th', {}, 'Recorder peer'), h('th', {}, 'Tracks'))));
  const body = h('tbody');
  for (const p of rec.participants) body.append(peerRow(p));
  table.append(body);
  box.append(h('div', { class: 'table-wrap' }, table));
  return box;
}

/** Draws the rooms and jobs of one pushed state; `offset` is the browser clock minus the server's. */
export function renderLive(state, offset) {
  const rooms = document.getElementById('rooms');
  const byRecording = new Map(state.recordings.map((r) => [r.recordingId, r]));
  rooms.textContent = '';
  if (state.rooms.length === 0) rooms.append(h('p', { class: 'empty' }, 'No open rooms.'));
  for (const room of state.rooms) {
    const card = h('article', { class: 'room', 'data-room': room.roomId });
    card.append(h('h3', {}, room.roomId, h('small', {}, ` · ${room.members.length} member${room.members.length === 1 ? '' : 's'}${room.nodeId ? ` · ${room.nodeId}` : ''}`)));
    const members = h('ul', { class: 'members' });
    for (const m of room.members) members.append(h('li', { 'data-participant': m.participantId, 'data-role': m.role }, m.name ?? m.participantId, m.role === 'host' ? h('span', { class: 'badge' }, 'host') : ''));
    card.append(members);
    const rec = room.recordingId && byRecording.get(room.recordingId);
    if (rec) card.append(recordingBox(rec, offset));
    else card.append(h('p', { class: 'meta' }, 'Not recording.'));
    rooms.append(card);
  }
  // recordings still stopping after their room closed
  for (const rec of state.recordings) {
    if (state.rooms.some((r) => r.recordingId === rec.recordingId)) continue;
    const card = h('article', { class: 'room', 'data-room': rec.roomId ?? '' }, h('h3', {}, rec.roomId ?? '?', h('small', {}, ' · closed')));
    card.append(recordingBox(rec, offset));
    rooms.append(card);
  }

  const jobs = document.getElementById('jobs');
  jobs.textContent = '';
  if (state.compositions.length === 0) jobs.append(h('p', { class: 'empty' }, 'No compositions.'));
  for (const j of state.compositions) jobs.append(jobRow(j));
}

/** One composition job with its progress bar (the live view and the recording's panel). */
export function jobRow(j) {
  const pct = j.state === 'completed' ? 100 : Math.round(j.percent ?? j.progress ?? 0);
  const state = j.state;
  return h(
    'div',
    { class: `job job-${state}`, 'data-job': j.jobId ?? j.id, 'data-state': state },
    h('span', { class: 'job-name' }, `${j.meetingId} · ${j.layout}/${j.format}`),
    h('progress', { max: 100, value: pct, 'aria-label': `composition ${pct}%` }),
    h('span', { class: 'job-state' }, `${state} ${pct}% · attempt ${j.attempt ?? j.attempts ?? 0}/${j.maxAttempts}`),
    j.error ? h('small', { class: 'bad' }, j.error) : '',
  );
}

/** Ticks every elapsed clock once a second (display only: the data comes pushed). */
export function tickElapsed(offset) {
  for (const el of document.querySelectorAll('.elapsed[data-started-at]')) {
    const t = Number(el.getAttribute('data-started-at'));
    if (t > 0 && el.closest('.rec')?.getAttribute('data-state') === 'recording') el.textContent = clock(Date.now() - offset() - t);
  }
}
