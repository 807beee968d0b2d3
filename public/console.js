// The operator console (GET /console): the live view, fed by server-sent
// events (GET /api/console/events), and the recordings (console-recordings.js).
import { renderLive, tickElapsed } from './console-live.js';
import { createRecordings } from './console-recordings.js';
import { TIMELINE_CSS } from './console-timeline.js';

const style = document.createElement('style');
style.textContent = TIMELINE_CSS;
document.head.appendChild(style);

const conn = document.getElementById('conn');
const errorBox = document.getElementById('error');
const showError = (err) => {
  errorBox.hidden = false;
  errorBox.textContent = err.message ?? String(err);
};
let offset = 0; // browser clock minus the server's
const recordings = createRecordings({ onError: showError });

/** What, when it changes, means the recordings list is out of date: recordings and jobs and their states. */
let signature = null;
let reloading = null;
function reloadSoon() {
  clearTimeout(reloading);
  reloading = setTimeout(() => recordings.load().catch(showError), 300);
}

function connect() {
  const source = new EventSource('/api/console/events');
  source.addEventListener('open', () => {
    conn.dataset.state = 'live';
    conn.textContent = 'Live';
  });
  source.addEventListener('state', (e) => {
    const state = JSON.parse(e.data);
    offset = Date.now() - state.now;
    document.getElementById('access-warning').hidden = state.accessControl;
    renderLive(state, offset);
    recordings.liveJobs(state);
    const sig = JSON.stringify([state.recordings.map((r) => [r.recordingId, r.state, r.participants.length]), state.compositions.map((j) => [j.jobId, j.state])]);
    if (sig !== signature) {
      signature = sig;
      reloadSoon();
    }
    document.body.dataset.updates = String(Number(document.body.dataset.updates ?? 0) + 1);
  });
  source.addEventListener('error', () => {
    // EventSource retries by itself, unless the server refused (401/403): then it stays closed
    const refused = source.readyState === EventSource.CLOSED;
    conn.dataset.state = refused ? 'refused' : 'reconnecting';
    conn.textContent = refused ? 'Not connected: the live view needs an operator token' : 'Reconnecting…';
  });
}

setInterval(() => tickElapsed(() => offset), 1000);
recordings.load().catch(showError);
connect();
