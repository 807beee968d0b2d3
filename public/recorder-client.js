/**
 * The client side of the recording protocol (protocol.md section 2), as a
 * small ES module any meeting page can import:
 *
 *   import { createRecorderClient } from '/recorder-client.js';
 *   const recorder = createRecorderClient({ socket, getLocalStream: () => localStream });
 *   // when the local media changes while recording:
 *   recorder.replaceMedia();
 *
 * `socket` is the signaling WebSocket (or anything with send() and
 * addEventListener('message')). The client learns its room and participant
 * id from the server's `connect` reply (or take them as options), answers
 * `recording-peer-request` with a NEW send-only RTCPeerConnection, trickles
 * ICE, buffers server candidates until the answer is applied, closes on
 * `recording-stopped`, and ignores recording messages of other rooms.
 */

const OPEN = 1;

export function createRecorderClient({
  socket,
  getLocalStream,
  connectionId = null,
  participantId = null,
  rtcConfig = {},
  RTCPeerConnectionImpl = globalThis.RTCPeerConnection,
  /** Listen on the socket by itself; pass false and call handleMessage() to feed messages yourself. */
  listen = true,
  onStateChange = () => {},
  logger = console,
}) {
  const state = {
    connectionId,
    participantId,
    /** The active recording of the room, or null. */
    recording: null,
    /** 'idle' | 'recording' | 'stopped' */
    status: 'idle',
    /** 'none' | 'offering' | 'answered' | RTCPeerConnectionState | 'no-local-media' | 'failed' */
    peer: 'none',
    /** The last recording-status the server sent about this client's peer. */
    serverStatus: null,
  };
  /** The current recorder peer: { pc, recordingId, offerSent, answered, pendingLocal, pendingRemote }. */
  let current = null;
  let generation = 0;
  let closed = false;

  const changed = () => {
    try {
      onStateChange({ ...state, recording: state.recording && { ...state.recording } });
    } catch (err) {
      logger.warn('recorder-client: onStateChange threw', err);
    }
  };
  const setPeer = (peer) => {
    state.peer = peer;
    changed();
  };

  function send(type, recordingId, fields) {
    if (!socket || socket.readyState !== OPEN) return false;
    socket.send(
      JSON.stringify({
        type,
        data: { recordingId, connectionId: state.connectionId, participantId: state.participantId, ...fields },
      }),
    );
    return true;
  }

  function closePeer() {
    if (!current) return;
    const { pc } = current;
    current = null;
    pc.onicecandidate = null;
    pc.onconnectionstatechange = null;
    try {
      pc.close();
    } catch {
      /* already closed */
    }
  }

  /** Opens a fresh send-only peer for the active recording and sends its offer. */
  async function openPeer() {
    const mine = ++generation;
    closePeer();
    const recordingId = state.recording?.recordingId;
    if (!recordingId || closed) return;
    let stream = null;
    try {
      stream = await getLocalStream();
    } catch (err) {
      logger.warn('recorder-client: getLocalStream failed', err);
    }
    if (mine !== generation) return; // superseded by a newer request or replaceMedia()
    const tracks = (stream?.getTracks?.() ?? []).filter((t) => t.readyState === 'live');
    if (tracks.length === 0) {
      send('recording-status', recordingId, { status: 'no-local-media' });
      setPeer('no-local-media');
      return;
    }
    const pc = new RTCPeerConnectionImpl(rtcConfig);
    const peer = { pc, recordingId, offerSent: false, answered: false, pendingLocal: [], pendingRemote: [] };
    current = peer;
    pc.onicecandidate = ({ candidate }) => {
      if (!candidate || !candidate.candidate) return;
      const c = { candidate: candidate.candidate, sdpMid: candidate.sdpMid ?? null, sdpMLineIndex: candidate.sdpMLineIndex ?? null };
      if (peer.offerSent) send('recording-candidate', recordingId, c);
      else peer.pendingLocal.push(c);
    };
    pc.onconnectionstatechange = () => current === peer && setPeer(pc.connectionState);
    try {
      for (const track of tracks) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      await pc.setLocalDescription(await pc.createOffer());
    } catch (err) {
      logger.warn('recorder-client: could not create the offer', err);
      if (current === peer) {
        closePeer();
        setPeer('failed');
      }
      return;
    }
    if (current !== peer) return;
    send('recording-offer', recordingId, { sdp: pc.localDescription.sdp });
    peer.offerSent = true;
    for (const c of peer.pendingLocal.splice(0)) send('recording-candidate', recordingId, c);
    setPeer('offering');
  }

  async function applyAnswer(peer, sdp) {
    if (peer.answered || peer.pc.signalingState !== 'have-local-offer') return;
    try {
      await peer.pc.setRemoteDescription({ type: 'answer', sdp });
      peer.answered = true;
      for (const c of peer.pendingRemote.splice(0)) await addCandidate(peer, c);
      if (current === peer) setPeer('answered');
    } catch (err) {
      logger.warn('recorder-client: the answer was not applied', err);
      if (current === peer) setPeer('failed');
    }
  }

  async function addCandidate(peer, c) {
    try {
      await peer.pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex });
    } catch (err) {
      logger.warn('recorder-client: a server candidate was refused', err);
    }
  }

  const recordingOf = (m) => ({ recordingId: m.recordingId, layout: m.layout, format: m.format, startedAt: m.startedAt, stoppedAt: m.stoppedAt ?? null });

  /** Feeds one server message (object or JSON text); returns true when it was the recorder's. */
  function handleMessage(raw) {
    let m = raw;
    if (typeof raw === 'string') {
      try {
        m = JSON.parse(raw);
      } catch {
        return false;
      }
    }
    if (!m || typeof m.type !== 'string' || closed) return false;
    if (m.type === 'connect') {
      state.connectionId = m.connectionId;
      state.participantId = m.participantId ?? state.participantId;
      changed();
      return false; // the page wants it too
    }
    if (m.type === 'disconnect') {
      if (m.connectionId === state.connectionId) {
        generation++;
        closePeer();
        state.recording = null;
        state.status = 'idle';
        setPeer('none');
      }
      return false;
    }
    if (!m.type.startsWith('recording-')) return false;
    if (m.connectionId !== state.connectionId) return false; // another room's message
    switch (m.type) {
      case 'recording-started':
        state.recording = recordingOf(m);
        state.status = 'recording';
        changed();
        return true;
      case 'recording-peer-request':
        state.recording = recordingOf(m);
        state.status = 'recording';
        changed();
        openPeer();
        return true;
      case 'recording-answer':
        if (current && current.recordingId === m.recordingId && (!m.participantId || m.participantId === state.participantId)) {
          applyAnswer(current, m.sdp);
        }
        return true;
      case 'recording-candidate':
        if (current && current.recordingId === m.recordingId && (!m.participantId || m.participantId === state.participantId)) {
          const c = { candidate: m.candidate, sdpMid: m.sdpMid ?? null, sdpMLineIndex: m.sdpMLineIndex ?? null };
          if (current.answered) addCandidate(current, c);
          else current.pendingRemote.push(c);
        }
        return true;
      case 'recording-stopped':
        if (!state.recording || state.recording.recordingId === m.recordingId) {
          generation++;
          closePeer();
          state.recording = recordingOf(m);
          state.status = 'stopped';
          setPeer('none');
        }
        return true;
      case 'recording-status':
        if (!m.participantId || m.participantId === state.participantId) {
          state.serverStatus = { recordingId: m.recordingId, status: m.status, message: m.message ?? null };
          changed();
        }
        return true;
      default:
        return false;
    }
  }

  const onSocketMessage = (event) => handleMessage(typeof event.data === 'string' ? event.data : String(event.data));
  if (listen && socket?.addEventListener) socket.addEventListener('message', onSocketMessage);

  return {
    handleMessage,
    /** Local media changed while recording: close the peer and offer again for the same recording. */
    replaceMedia() {
      return state.status === 'recording' ? openPeer() : Promise.resolve();
    },
    get state() {
      return { ...state, recording: state.recording && { ...state.recording } };
    },
    /** The current recorder RTCPeerConnection, if any (for stats or tests). */
    get peerConnection() {
      return current?.pc ?? null;
    },
    close() {
      closed = true;
      generation++;
      closePeer();
      if (listen && socket?.removeEventListener) socket.removeEventListener('message', onSocketMessage);
    },
  };
}
