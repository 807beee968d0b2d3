// The demo meeting page: joins a room over the signaling socket, shows who is
// there, lets the host start/stop a recording over the HTTP API, and lists
// the stored recordings. The recording protocol itself is recorder-client.js.
import { createRecorderClient } from '/recorder-client.js';

const $ = (id) => document.getElementById(id);
const ui = {
  form: $('join-form'),
  room: $('room'),
  name: $('name'),
  join: $('join'),
  leave: $('leave'),
  me: $('me'),
  error: $('error'),
  local: $('local'),
  mediaState: $('media-state'),
  camera: $('camera'),
  members: $('members'),
  recordingState: $('recording-state'),
  peerState: $('peer-state'),
  hostControls: $('host-controls'),
  layout: $('layout'),
  format: $('format'),
  record: $('record'),
  stop: $('stop'),
  jobState: $('job-state'),
  refresh: $('refresh'),
  recordings: $('recordings'),
  player: $('player'),
};

/** Everything the page shows, in one place. */
const page = {
  socket: null,
  recorder: null,
  localStream: null,
  roomId: null,
  participantId: null,
  role: null,
  /** participantId -> { participantId, role, name } */
  members: new Map(),
  recording: null,
  recordingStatus: 'idle',
};

const params = new URLSearchParams(location.search);
if (params.get('room')) ui.room.value = params.get('room');
if (params.get('name')) ui.name.value = params.get('name');

function showError(message) {
  ui.error.textContent = message ?? '';
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => ({ success: false, message: `HTTP ${res.status}` }));
  if (!res.ok || json.success === false) throw Object.assign(new Error(json.message ?? `HTTP ${res.status}`), { status: res.status, body: json });
  return json;
}

async function getMedia() {
  for (const constraints of [{ video: true, audio: true }, { audio: true }, { video: true }]) {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch {
      /* try with less */
    }
  }
  return null;
}

// ---- rendering ----

function renderMembers() {
  ui.members.replaceChildren(
    ...[...page.members.values()].map((m) => {
      const li = document.createElement('li');
      li.textContent = m.name || m.participantId.slice(0, 8);
      li.dataset.role = m.role;
      li.dataset.participantId = m.participantId;
      if (m.participantId === page.participantId) li.classList.add('me');
      return li;
    }),
  );
}

function renderMe() {
  ui.me.dataset.role = page.role ?? '';
  ui.me.textContent = page.roomId ? `In room “${page.roomId}” as ${page.role} (${page.participantId.slice(0, 8)}).` : 'Not in a room.';
  ui.join.disabled = !!page.roomId;
  ui.leave.disabled = !page.roomId;
  ui.hostControls.hidden = page.role !== 'host';
}

function renderRecording() {
  const r = page.recording;
  ui.recordingState.dataset.state = page.recordingStatus;
  ui.recordingState.dataset.recordingId = r?.recordingId ?? '';
  ui.recordingState.textContent =
    page.recordingStatus === 'recording'
      ? `Recording since ${new Date(r.startedAt).toLocaleTimeString()} (${r.layout}, ${r.format}).`
      : page.recordingStatus === 'stopped'
        ? `Recording stopped at ${new Date(r.stoppedAt).toLocaleTimeString()}.`
        : 'Not recording.';
  ui.record.disabled = page.recordingStatus === 'recording';
  ui.stop.disabled = page.recordingStatus !== 'recording';
}

function renderPeer(state) {
  ui.peerState.dataset.state = state.peer;
  const server = state.serverStatus ? ` — server: ${state.serverStatus.status}` : '';
  ui.peerState.textContent = state.peer === 'none' ? '' : `Your recorder connection: ${state.peer}${server}`;
}

function renderMedia() {
  ui.local.srcObject = page.localStream;
  const kinds = page.localStream?.getTracks().map((t) => t.kind) ?? [];
  ui.mediaState.textContent = kinds.length ? `Sending ${kinds.join(' + ')}.` : 'No camera or microphone: the recorder will be told so.';
  ui.camera.disabled = !page.localStream;
  ui.camera.textContent = kinds.includes('video') ? 'Camera off' : 'Camera on';
}

/** Turning the camera off or on changes the local media: the recorder client offers again. */
async function toggleCamera() {
  const stream = page.localStream;
  if (!stream) return;
  const video = stream.getVideoTracks();
  if (video.length) {
    for (const t of video) {
      t.stop();
      stream.removeTrack(t);
    }
  } else {
    try {
      const cam = await navigator.mediaDevices.getUserMedia({ video: true });
      for (const t of cam.getVideoTracks()) stream.addTrack(t);
    } catch (err) {
      showError(`No camera: ${err.message}`);
    }
  }
  // a fresh MediaStream object so the <video> element picks up the change
  page.localStream = new MediaStream(stream.getTracks());
  renderMedia();
  await page.recorder?.replaceMedia();
}

// ---- signaling ----

function onMessage(event) {
  let m;
  try {
    m = JSON.parse(event.data);
  } catch {
    return;
  }
  switch (m.type) {
    case 'connect':
      page.roomId = m.connectionId;
      page.participantId = m.participantId;
      page.role = m.role;
      page.members.set(m.participantId, { participantId: m.participantId, role: m.role, name: ui.name.value || null });
      renderMe();
      renderMembers();
      break;
    case 'members':
      if (m.connectionId !== page.roomId) break;
      page.members = new Map(m.members.map((x) => [x.participantId, x]));
      renderMembers();
      break;
    case 'participant-left':
      page.members.delete(m.participantId);
      renderMembers();
      break;
    case 'disconnect':
      if (m.connectionId !== page.roomId) break;
      showError(m.reason === 'host-left' ? 'The host left: the room is closed.' : 'Disconnected from the room.');
      leftRoom();
      break;
    case 'recording-started':
    case 'recording-peer-request':
    case 'recording-stopped':
      if (m.connectionId !== page.roomId) break;
      page.recording = { recordingId: m.recordingId, layout: m.layout, format: m.format, startedAt: m.startedAt, stoppedAt: m.stoppedAt ?? null };
      page.recordingStatus = m.type === 'recording-stopped' ? 'stopped' : 'recording';
      renderRecording();
      if (m.type === 'recording-stopped') setTimeout(loadRecordings, 1000);
      break;
    case 'error':
      showError(`Server: ${m.message}`);
      break;
  }
}

function leftRoom() {
  page.roomId = null;
  page.role = null;
  page.members.clear();
  page.recording = null;
  page.recordingStatus = 'idle';
  renderMe();
  renderMembers();
  renderRecording();
}

async function join(event) {
  event.preventDefault();
  showError('');
  ui.join.disabled = true;
  if (!page.localStream) {
    page.localStream = await getMedia();
    renderMedia();
  }
  const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`);
  page.socket = socket;
  page.recorder?.close();
  page.recorder = createRecorderClient({
    socket,
    getLocalStream: () => page.localStream,
    onStateChange: renderPeer,
  });
  socket.addEventListener('message', onMessage);
  socket.addEventListener('open', () => {
    const name = ui.name.value.trim();
    socket.send(JSON.stringify({ type: 'connect', connectionId: ui.room.value.trim(), ...(name ? { name } : {}) }));
  });
  socket.addEventListener('close', () => {
    if (page.socket !== socket) return;
    if (page.roomId) showError('The connection to the server closed.');
    leftRoom();
  });
}

function leave() {
  if (page.socket?.readyState === WebSocket.OPEN && page.roomId) {
    page.socket.send(JSON.stringify({ type: 'disconnect', connectionId: page.roomId }));
  }
  page.recorder?.close();
  page.socket?.close();
  page.socket = null;
  leftRoom();
}

// ---- recording controls (host) ----

async function startRecording() {
  showError('');
  ui.record.disabled = true;
  try {
    const { session } = await api('POST', '/api/recording-sessions', {
      connectionId: page.roomId,
      layout: ui.layout.value,
      format: ui.format.value,
    });
    ui.jobState.textContent = `Recording ${session.id.slice(0, 8)} started.`;
    watchLive(session.id);
  } catch (err) {
    showError(`Could not start: ${err.message}`);
    renderRecording();
  }
}

async function stopRecording() {
  if (!page.recording) return;
  showError('');
  ui.stop.disabled = true;
  try {
    const { compositionJob } = await api('DELETE', `/api/recording-sessions/${encodeURIComponent(page.recording.recordingId)}`);
    if (compositionJob) watchJob(compositionJob.id);
  } catch (err) {
    showError(`Could not stop: ${err.message}`);
    renderRecording();
  }
}

const clock = (ms) => `${Math.floor(ms / 60000)}:${String(Math.floor(ms / 1000) % 60).padStart(2, '0')}`;

/** While recording: the live composition's progress ("composed up to 12:30"), when the server composes live. */
async function watchLive(recordingId) {
  for (;;) {
    await new Promise((r) => setTimeout(r, 2000));
    let session;
    try {
      ({ session } = await api('GET', `/api/recording-sessions/${encodeURIComponent(recordingId)}`));
    } catch {
      return;
    }
    if (session.status !== 'recording') return;
    const live = session.liveComposition;
    if (live) ui.jobState.textContent = `Composed up to ${clock(live.composedUpToMs)} (${Math.round(live.lagMs / 1000)} s behind), ${live.state}.`;
  }
}

async function watchJob(jobId) {
  for (;;) {
    let job;
    try {
      ({ job } = await api('GET', `/api/recording-compositions/${encodeURIComponent(jobId)}`));
    } catch (err) {
      ui.jobState.textContent = `Composition: ${err.message}`;
      return;
    }
    ui.jobState.textContent = `Composition ${job.status}${job.status === 'running' ? ` ${Math.round(job.progress)} %` : ''}${job.error ? `: ${job.error}` : ''}`;
    if (job.status === 'completed' || job.status === 'failed') return loadRecordings();
    await new Promise((r) => setTimeout(r, 1500));
  }
}

// ---- recordings ----

const kb = (n) => (n > 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.ceil(n / 1e3)} kB`);
const secs = (ms) => (ms == null ? '?' : `${(ms / 1000).toFixed(1)} s`);

function fileItem(f, label) {
  const li = document.createElement('li');
  const play = document.createElement('button');
  play.type = 'button';
  play.textContent = '▶';
  play.title = `play ${f.filename}`;
  play.addEventListener('click', () => {
    ui.player.hidden = false;
    ui.player.src = f.streamUrl;
    ui.player.play().catch(() => {});
  });
  const download = document.createElement('a');
  download.href = f.downloadUrl;
  download.textContent = 'download';
  li.append(play, ` ${label} · ${kb(f.size)} `, download);
  return li;
}

async function loadRecordings() {
  let recordings;
  try {
    ({ recordings } = await api('GET', '/api/recordings'));
  } catch (err) {
    ui.recordings.textContent = `Could not load recordings: ${err.message}`;
    return;
  }
  if (recordings.length === 0) {
    ui.recordings.innerHTML = '<p class="hint">No recordings yet.</p>';
    return;
  }
  ui.recordings.replaceChildren(
    ...recordings.map((r) => {
      const div = document.createElement('div');
      div.className = 'recording';
      div.dataset.recordingId = r.recordingId ?? '';
      const title = document.createElement('strong');
      title.textContent = `${r.meetingId} · ${r.startedAt ? new Date(r.startedAt).toLocaleString() : 'unknown time'}`;
      const who = document.createElement('div');
      who.className = 'hint';
      who.textContent = `host ${r.host?.name ?? r.host?.participantId?.slice(0, 8) ?? '?'} · ${r.participants.length} participant(s) · ${secs(r.durationMs)} · ${kb(r.size)}`;
      const list = document.createElement('ul');
      for (const c of r.composed) list.append(fileItem(c, `composed (${c.format})`));
      for (const t of r.tracks) list.append(fileItem(t, `${t.name ?? t.participantId.slice(0, 8)} ${t.kind ?? ''} track`));
      div.append(title, who, list);
      return div;
    }),
  );
}

ui.form.addEventListener('submit', join);
ui.leave.addEventListener('click', leave);
ui.camera.addEventListener('click', toggleCamera);
ui.record.addEventListener('click', startRecording);
ui.stop.addEventListener('click', stopRecording);
ui.refresh.addEventListener('click', loadRecordings);
renderMe();
renderRecording();
loadRecordings();
// For debugging from the console and for browser tests.
window.demo = page;
