import type { StoredEvent } from '../../events/envelope.js';
import type { Trace, TracedEvent } from './harness.js';

/** Every rule the oracle checks, by the tag its problems start with. */
export const RULES = [
  'replay', 'path', 'host-left', 'participant-left', 'late-join', 'room-closed', 'one-active', 'start', 'failed',
  'stop-waits', 'stop-ends', 'offer', 'close', 'segments', 'compose', 'one-run', 'retry-bound', 'ends',
] as const;

/**
 * The lifecycle rules (../shared/protocol.md section 4 and the README), written
 * as checks over what a run did: the events it appended (to every stream), the
 * effects it asked for and the states it ended in. Nothing here reads the
 * machines' code; the oracle keeps its own account of rooms (who opened them,
 * who is in) and of runs, and judges the machines' output against it.
 * Returns one line per broken rule.
 */
export function checkTrace(trace: Trace): string[] {
  const problems: string[] = [];
  const fail = (rule: string, ev: StoredEvent | null, why: string) =>
    problems.push(`[${rule}] ${why}${ev ? ` (after ${ev.type} on ${ev.stream})` : ''} — path ${trace.name}`);

  const events = trace.events;
  const children = new Map<string, TracedEvent[]>();
  for (const t of events) {
    const c = t.event.causationId;
    if (c) children.set(c, [...(children.get(c) ?? []), t]);
  }
  /** Everything an event caused, directly or through further emits and timers. */
  const caused = (id: string): TracedEvent[] => {
    const out: TracedEvent[] = [];
    const todo = [...(children.get(id) ?? [])];
    while (todo.length) {
      const t = todo.shift()!;
      out.push(t);
      todo.push(...(children.get(t.event.id) ?? []));
    }
    return out;
  };
  const effectsOf = (ids: Set<string>) => trace.effects.filter((f) => ids.has(f.cause.id));
  const finalValue = (stream: string) => trace.final.get(stream)?.value;
  const isFinalRecording = (v: unknown) => v === 'stopped' || v === 'failed';
  const peerStreamsOf = (recordingId: string) => [...trace.final.keys()].filter((s) => s.startsWith(`peer:${recordingId}.`));
  const participantOf = (peerStream: string) => peerStream.slice(peerStream.indexOf('.') + 1);
  /** A recorder peer that is open or being opened (asked for media, negotiating, recording, or waiting to be revived). */
  const peerIsOpenValue = (v: unknown) => v !== undefined && v !== 'idle' && v !== 'closing' && v !== 'closed';

  for (const s of trace.replayMismatch) fail('replay', null, `${s}: a fresh fold of the log does not reach the live state`);

  // The oracle's own account, advanced event by event.
  const value = new Map<string, unknown>();
  const rooms = new Map<string, { open: boolean; host: string | null; members: Set<string> }>();
  const recordingRoom = new Map<string, string>();
  // A path may hand in, as inputs, facts that another stream would emit (a recording that ended, a
  // peer that closed): the oracle takes the world's word for them.
  const saidEnded = new Set<string>();
  const saidClosed = new Set<string>();
  const closeAsked = new Set<string>();
  const peerClosed = new Set<string>();
  const activeRecordingOf = (roomId: string) =>
    [...recordingRoom].find(
      ([rec, room]) => room === roomId && value.get(`recording:${rec}`) !== undefined && !isFinalRecording(value.get(`recording:${rec}`)) && !saidEnded.has(rec),
    )?.[0];
  const jobs = new Map<string, { bound: number; attempts: number; running: boolean; delivery: number; spaceWaits?: number }>();
  const offersOf = new Map<string, number>();
  const segmentIndexes = new Map<string, Set<number>>();
  const finalized = new Map<string, Set<string>>();
  const segmentsBeforeEnd = new Map<string, { participantId: string; file: string }[]>();

  for (const t of events) {
    const e = t.event;
    const d = e.data as any;
    const [kind, id] = [e.stream.slice(0, e.stream.indexOf(':')), e.stream.slice(e.stream.indexOf(':') + 1)];
    const beforeValue = value.get(e.stream);
    const down = caused(e.id);
    const downIds = new Set([e.id, ...down.map((x) => x.event.id)]);
    const input = e.causationId === null;
    if (input && e.type === 'room.recording.ended') saidEnded.add(d.recordingId);
    if (input && e.type === 'recording.peer.closed') saidClosed.add(`peer:${id}.${d.participantId}`);
    if (e.type === 'peer.requested') saidClosed.delete(e.stream);
    const peerIsOpen = (s: string) => peerIsOpenValue(value.get(s)) && !saidClosed.has(s);

    if (kind === 'room') {
      const room = rooms.get(id) ?? { open: false, host: null, members: new Set<string>() };
      rooms.set(id, room);
      const active = activeRecordingOf(id);
      if (e.type === 'room.member.joined') {
        if (!room.open) {
          Object.assign(room, { open: true, host: d.participantId, members: new Set([d.participantId]) });
        } else if (!room.members.has(d.participantId)) {
          room.members.add(d.participantId);
          // protocol 4: a client joining a room while it records is asked for a recorder peer
          if (active && value.get(`recording:${active}`) === 'recording') {
            const stream = `peer:${active}.${d.participantId}`;
            const asked = down.some((x) => x.event.type === 'peer.requested' && x.event.stream === stream);
            // A rejoin under the same id while its old peer still finalizes is asked once that peer has closed
            // (the same stream cannot carry two peers at once): a later request, or the old peer never closing in this run.
            const stillClosing = value.get(stream) !== undefined && value.get(stream) !== 'closed';
            const later = events.slice(events.indexOf(t) + 1);
            const closedLater = later.findIndex((x) => x.event.type === 'peer.closed' && x.event.stream === stream);
            const stopAt = later.findIndex((x) => (x.event.type === 'recording.stop.requested' || x.event.type === 'recording.failed') && x.event.stream === `recording:${active}`);
            const askedAfterClose =
              closedLater === -1 ||
              (stopAt !== -1 && stopAt < closedLater) || // the recording was ending by then: no new peer is due
              later.slice(closedLater).some((x) => x.event.type === 'peer.requested' && x.event.stream === stream);
            if (!asked && !(stillClosing && askedAfterClose))
              fail('late-join', e, `${d.participantId} joined while ${active} records but no recorder peer was requested for it`);
          }
        }
      }
      if (e.type === 'room.member.left' && room.open && d.participantId === room.host) {
        // protocol 4: the host leaving stops the recording, closes every recorder peer, starts the composition
        if (t.after !== 'closed') fail('host-left', e, `room is ${JSON.stringify(t.after)}, not closed`);
        if (active && value.get(`recording:${active}`) === 'recording') {
          const stop = down.find((x) => x.event.type === 'recording.stop.requested' && x.event.stream === `recording:${active}`);
          if (!stop) fail('host-left', e, `no stop was requested for the active recording ${active}`);
          else if ((stop.event.data as any).compose !== true) fail('host-left', e, `the stop of ${active} does not ask for a composition`);
          for (const p of peerStreamsOf(active).filter((s) => peerIsOpen(s))) {
            if (!down.some((x) => x.event.type === 'peer.close.requested' && x.event.stream === p)) fail('host-left', e, `${p} was not asked to close`);
            if (!effectsOf(downIds).some((f) => f.type === 'closeRecorderPeer' && f.params.recordingId === active && f.params.participantId === participantOf(p)))
              fail('host-left', e, `the recorder was not asked to close ${p}`);
          }
          if (finalValue(`recording:${active}`) !== 'stopped') fail('host-left', e, `${active} ends ${JSON.stringify(finalValue(`recording:${active}`))}, not stopped`);
        }
        Object.assign(room, { open: false, host: null, members: new Set() });
      } else if (e.type === 'room.member.left' && room.open && room.members.has(d.participantId)) {
        room.members.delete(d.participantId);
        if (active && value.get(`recording:${active}`) === 'recording') {
          const told = down.some((x) => x.event.type === 'recording.participant.left' && x.event.stream === `recording:${active}` && (x.event.data as any).participantId === d.participantId);
          if (!told) fail('participant-left', e, `the recording ${active} was not told that ${d.participantId} left`);
        }
      }
      if (e.type === 'room.closed' && room.open) {
        if (t.after !== 'closed') fail('room-closed', e, `room is ${JSON.stringify(t.after)}, not closed`);
        Object.assign(room, { open: false, host: null, members: new Set() });
      }
    }

    if (kind === 'recording') {
      if (e.type === 'recording.started') {
        const other = activeRecordingOf(d.roomId);
        if (other && other !== id) fail('one-active', e, `${id} started while ${other} is still active in room ${d.roomId}`);
        recordingRoom.set(id, d.roomId);
        for (const m of d.members as { participantId: string }[]) {
          if (!down.some((x) => x.event.type === 'peer.requested' && x.event.stream === `peer:${id}.${m.participantId}`))
            fail('start', e, `no recorder peer was requested for member ${m.participantId}`);
        }
      }
      if (e.type === 'recording.participant.left') {
        // protocol 4: a participant leaving closes only that participant's recorder peer
        const own = `peer:${id}.${d.participantId}`;
        if (peerIsOpen(own) && !down.some((x) => x.event.type === 'peer.close.requested' && x.event.stream === own))
          fail('participant-left', e, `${own} was not asked to close`);
        for (const x of down.filter((x) => x.event.type === 'peer.close.requested' && x.event.stream !== own)) fail('participant-left', e, `${x.event.stream} was asked to close too`);
        for (const f of effectsOf(downIds).filter((f) => f.type === 'closeRecorderPeer' && f.params.participantId !== d.participantId))
          fail('participant-left', e, `the recorder was asked to close ${f.params.participantId}'s peer too`);
        if (beforeValue === 'recording' && t.after !== 'recording') fail('participant-left', e, `the recording went to ${JSON.stringify(t.after)}`);
      }
      if (e.type === 'recording.failed') {
        if (t.after !== 'failed') fail('failed', e, `recording is ${JSON.stringify(t.after)}, not failed`);
        for (const p of peerStreamsOf(id).filter((s) => peerIsOpen(s))) {
          if (!down.some((x) => x.event.type === 'peer.close.requested' && x.event.stream === p)) fail('failed', e, `${p} was not asked to close`);
        }
      }
      if (e.type === 'recording.stop.timed-out' && beforeValue === 'stopping') {
        // the timeout is for peers that do not answer; with every one of them closed the stop had nothing to wait for
        const peers = peerStreamsOf(id);
        // (a closing claimed by a test input counts only while no peer actor says otherwise: a rejoined participant's peer reopens)
        if (peers.length && peers.every((p) => value.get(p) === 'closed' || (saidClosed.has(p) && (value.get(p) === undefined || value.get(p) === 'idle'))))
          fail('stop-ends', e, 'the stop waited for its timeout although every recorder peer of the recording had closed');
      }
      if (t.after === 'stopped' && beforeValue !== 'stopped' && e.type !== 'recording.stop.timed-out') {
        // a stop waits for every peer it asked to close to finalize its files (or for its timeout)
        for (const p of peerStreamsOf(id)) {
          if (closeAsked.has(p) && !peerClosed.has(p) && !saidClosed.has(p)) fail('stop-waits', e, `the recording stopped before ${p} reported its files`);
        }
      }
      if (isFinalRecording(t.after) && !isFinalRecording(beforeValue)) {
        // what was recorded before the end is kept by the recording
        segmentsBeforeEnd.set(id, [...finalized].filter(([s]) => s.startsWith(`peer:${id}.`)).flatMap(([s, files]) => [...files].map((file) => ({ participantId: participantOf(s), file }))));
      }
    }

    if (kind === 'peer') {
      const files = finalized.get(e.stream) ?? new Set<string>();
      finalized.set(e.stream, files);
      if (e.type === 'peer.segment.finalized') files.add(d.segment.file);
      if (e.type === 'peer.closed') for (const s of d.segments) files.add(s.file);
      if (e.type === 'peer.offer.received') {
        const n = (offersOf.get(e.stream) ?? 0) + 1;
        offersOf.set(e.stream, n);
        const open = trace.effects.find((f) => f.type === 'openRecorderPeer' && f.cause.id === e.id);
        if (!open) fail('offer', e, `no recorder peer was opened for offer ${n}`);
        else {
          if (open.params.offerNumber !== n || `peer:${open.params.recordingId}.${open.params.participantId}` !== e.stream)
            fail('offer', e, `the recorder peer opened is ${open.params.recordingId}/${open.params.participantId} offer ${open.params.offerNumber}, expected offer ${n} of ${e.stream}`);
          // a new offer writes new files: it never reuses a segment number of this participant
          const key = `${open.params.recordingId}.${open.params.participantId}`;
          const used = segmentIndexes.get(key) ?? new Set<number>();
          if (used.has(open.params.segmentIndex)) fail('offer', e, `offer ${n} reuses segment index ${open.params.segmentIndex}`);
          used.add(open.params.segmentIndex);
          segmentIndexes.set(key, used);
        }
      }
      if (e.type === 'peer.close.requested') closeAsked.add(e.stream);
      if (e.type === 'peer.closed') peerClosed.add(e.stream);
      if (e.type === 'peer.close.requested') {
        const [rec] = id.split('.');
        if (t.after !== 'closing') fail('close', e, `peer is ${JSON.stringify(t.after)}, not closing`);
        if (!trace.effects.some((f) => f.type === 'closeRecorderPeer' && f.cause.id === e.id && f.params.recordingId === rec && f.params.participantId === participantOf(e.stream)))
          fail('close', e, 'the recorder was not asked to close this peer');
      }
      if (e.type === 'peer.closed') {
        const [rec] = id.split('.');
        const report = down.find((x) => x.event.type === 'recording.peer.closed' && x.event.stream === `recording:${rec}`);
        const recValue = value.get(`recording:${rec}`);
        if (recValue !== undefined && recValue !== 'starting' && !isFinalRecording(recValue) && !report) fail('segments', e, `the recording was not told that ${participantOf(e.stream)}'s peer closed`);
        const reported = new Set(((report?.event.data as any)?.segments ?? []).map((s: { file: string }) => s.file));
        for (const f of files) if (report && !reported.has(f)) fail('segments', e, `the peer's closing report drops segment ${f}`);
      }
    }

    if (kind === 'composition') {
      const job = jobs.get(id) ?? { bound: 0, attempts: 0, running: false, delivery: 0 };
      jobs.set(id, job);
      const mine = new Set([e.id]);
      if (e.type === 'composition.requested') {
        job.bound = d.maxAttempts;
        if (!effectsOf(mine).some((f) => f.type === 'enqueueComposition' && f.params.jobId === id)) fail('compose', e, 'the job was not enqueued');
      }
      if (e.type === 'composition.started') {
        // never two runs at once: a start while one runs is only a takeover of a redelivered item
        if (job.running && !(d.delivery > job.delivery)) fail('one-run', e, `attempt ${d.attempt} started while attempt ${job.attempts} runs`);
        if (d.attempt !== job.attempts + 1) fail('one-run', e, `attempt ${d.attempt} started after attempt ${job.attempts}`);
        job.attempts = d.attempt;
        job.delivery = d.delivery;
        job.running = true;
      }
      if (['composition.progressed', 'composition.completed', 'composition.failed', 'composition.timed-out'].includes(e.type)) {
        if (!job.running || d.attempt !== job.attempts) fail('one-run', e, `a result of attempt ${d.attempt} was taken while ${job.running ? `attempt ${job.attempts} runs` : 'nothing runs'}`);
      }
      if (e.type === 'composition.completed') job.running = false;
      if (e.type === 'composition.failed' || e.type === 'composition.timed-out') {
        const ofTheRun = job.running && d.attempt === job.attempts;
        job.running = false;
        // README: a run that failed for want of disk space does not count against the attempts (up to a bound of such waits)
        if (ofTheRun && e.type === 'composition.failed' && d.reason === 'disk-full' && (job.spaceWaits = (job.spaceWaits ?? 0) + 1) <= 100)
          job.bound = Math.max(job.bound + 1, job.attempts + 1); // it is always retried
        const retryTimer = trace.effects.some((f) => f.cause.id === e.id && f.type === 'scheduleTimer' && f.params.type === 'composition.retry.due');
        if (job.attempts < job.bound) {
          if (t.after !== 'retrying' || !retryTimer) fail('retry-bound', e, `attempt ${job.attempts} of ${job.bound} failed and no retry is scheduled (${JSON.stringify(t.after)})`);
        } else if (t.after !== 'failed' || retryTimer) fail('retry-bound', e, `the last attempt (${job.attempts} of ${job.bound}) failed and the job is ${JSON.stringify(t.after)}${retryTimer ? ' with a retry scheduled' : ''}`);
        if (e.type === 'composition.timed-out' && !effectsOf(mine).some((f) => f.type === 'abortComposition' && f.params.attempt === d.attempt))
          fail('one-run', e, 'a run that timed out was not aborted');
      }
      if (e.type === 'composition.retry.requested' && beforeValue === 'failed') job.bound = job.attempts + 1;
      if (e.type === 'composition.requeued') {
        job.running = false;
        if (t.after === 'queued' && !effectsOf(mine).some((f) => f.type === 'enqueueComposition')) fail('compose', e, 'a requeued job was not enqueued');
      }
      if (e.type === 'composition.retry.due' || e.type === 'composition.retry.requested') {
        if (t.after === 'queued' && !effectsOf(mine).some((f) => f.type === 'enqueueComposition')) fail('compose', e, 'a retried job was not enqueued');
      }
      if (job.running && effectsOf(mine).some((f) => f.type === 'enqueueComposition')) fail('one-run', e, 'the job was enqueued again while it runs');
    }
    value.set(e.stream, t.after);
  }

  // End of the run: every recording is over, with the composition its stop asked for and its files.
  for (const [stream, { value: v, context }] of trace.final) {
    if (!stream.startsWith('recording:') || v === 'starting') continue;
    const id = stream.slice('recording:'.length);
    if (!isFinalRecording(v)) fail('ends', null, `${stream} ends ${JSON.stringify(v)}, neither stopped nor failed`);
    const stops = events.filter((t) => t.event.stream === stream && t.event.type === 'recording.stop.requested');
    const stop = stops.at(-1)?.event.data as any;
    const requested = events.filter((t) => t.event.type === 'composition.requested' && (t.event.data as any).recordingId === id);
    if (v === 'stopped' && stop) {
      if (stop.compose && requested.length !== 1) fail('compose', null, `${stream} stopped with compose=true and ${requested.length} compositions were requested`);
      if (stop.compose && requested[0] && requested[0].event.stream !== `composition:${stop.compositionJobId}`) fail('compose', null, `${stream}: the composition went to ${requested[0].event.stream}, not the job the stop named`);
      if (!stop.compose && requested.length) fail('compose', null, `${stream} stopped with compose=false and a composition was requested`);
    }
    const kept = new Set((context.segments as { participantId: string; file: string }[]).map((s) => `${s.participantId}/${s.file}`));
    for (const s of segmentsBeforeEnd.get(id) ?? []) if (!kept.has(`${s.participantId}/${s.file}`)) fail('segments', null, `${stream} lost ${s.participantId}'s segment ${s.file}`);
  }
  return problems;
}
