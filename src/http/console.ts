import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { kindOf, peerStream } from '../../events/streams.js';
import type { AppliedDomainEvent, Runtime } from '../runtime/runtime.js';
import type { Caller } from './access.js';
import { HttpError } from './respond.js';

/**
 * The operator console's live view (GET /console, public/console*.js): what
 * every open room, running recording, recorder peer and composition job is
 * doing now, read from the runtime's snapshots, and pushed to each console as
 * server-sent events whenever the runtime applies an event (coalesced, at
 * most one push per PUSH_EVERY_MS) — no polling.
 */

const PUSH_EVERY_MS = 250;
const KEEPALIVE_MS = 15_000;
/** Finished compositions the live view still shows (the Recordings tab has them all). */
const RECENT_JOBS = 10;

type Kind = 'audio' | 'video';
interface TrackRate {
  packets: number;
  lost: number;
  bytes: number;
  bitrateKbps: number | null;
}

export interface ConsoleFeed {
  /** The live view now. */
  view(): ReturnType<typeof buildView>;
  /** GET /api/console/events: the view at once, then again after every change, until the client goes. */
  serve(req: IncomingMessage, res: ServerResponse): void;
  readonly clients: number;
  close(): void;
}

/** Only an operator token may watch every room (access control on); without it, anyone (the server warns at start). */
export function requireOperator(who: Caller): void {
  if (who.principal && who.principal.role !== 'operator') throw new HttpError(403, 'the console needs an operator token');
}

function buildView(runtime: Runtime, rates: Map<string, { at: number; audio?: TrackRate; video?: TrackRate }>, accessControl: boolean) {
  const rooms = runtime
    .list('room')
    .filter((a) => a.snapshot.value === 'open')
    .map((a) => {
      const c = a.snapshot.context;
      return {
        roomId: c.roomId,
        nodeId: c.nodeId,
        hostId: c.hostId,
        members: Object.values(c.members).map((m) => ({ participantId: m.participantId, name: m.name, role: m.role })),
        recordingId: c.activeRecordingId,
      };
    })
    .sort((a, b) => a.roomId.localeCompare(b.roomId));
  const recordings = runtime
    .list('recording')
    .filter((a) => ['starting', 'recording', 'stopping'].includes(String(a.snapshot.value)))
    .map((a) => {
      const c = a.snapshot.context;
      const ctx = c as unknown as Record<string, unknown>;
      return {
        recordingId: c.recordingId,
        roomId: c.roomId,
        state: String(a.snapshot.value),
        layout: c.layout,
        format: c.format,
        startedAt: c.startedAt,
        participants: Object.entries(c.participants).map(([participantId, p]) => {
          const peer = runtime.get(peerStream(c.recordingId, participantId));
          const r = rates.get(peerStream(c.recordingId, participantId));
          const pc = peer?.context;
          return {
            participantId,
            name: p.name,
            role: p.role,
            active: p.active,
            peer: pc
              ? {
                  state: String(peer.value),
                  problem: pc.problem,
                  offers: pc.offers,
                  media: pc.media,
                  stalled: pc.stalled,
                  tracks: pc.tracks
                    .filter((t) => t.offerNumber === pc.offers)
                    .map((t) => ({ kind: t.kind, codec: t.codec, ...(r?.[t.kind] ?? { packets: 0, lost: 0, bytes: 0, bitrateKbps: null }) })),
                  totals: pc.stats,
                }
              : null,
          };
        }),
        // A live composition (composed while recording), once the session has one.
        ...(ctx.liveComposition !== undefined ? { liveComposition: ctx.liveComposition } : {}),
      };
    });
  const jobs = runtime.list('composition').map((a) => {
    const c = a.snapshot.context;
    return {
      jobId: c.jobId,
      recordingId: c.recordingId,
      meetingId: c.meetingId,
      state: String(a.snapshot.value),
      layout: c.layout,
      format: c.format,
      percent: c.percent,
      attempt: c.attempt,
      maxAttempts: c.maxAttempts,
      error: c.error,
      updatedAt: a.lastTime,
    };
  });
  const active = jobs.filter((j) => !['completed', 'failed'].includes(j.state));
  const recent = jobs
    .filter((j) => ['completed', 'failed'].includes(j.state))
    .sort((a, b) => b.updatedAt - a.updatedAt)
    .slice(0, RECENT_JOBS);
  return { now: Date.now(), accessControl, rooms, recordings, compositions: [...active, ...recent] };
}

export function createConsoleFeed({ runtime, logger, accessControl }: { runtime: Runtime; logger: Logger; accessControl: boolean }): ConsoleFeed {
  const log = logger.child({ module: 'console' });
  const rates = new Map<string, { at: number; audio?: TrackRate; video?: TrackRate }>();
  const clients = new Set<ServerResponse>();
  let timer: NodeJS.Timeout | null = null;
  let lastPush = 0;

  const view = () => buildView(runtime, rates, accessControl);
  const send = (res: ServerResponse, body: string) => {
    if (!res.writableEnded) res.write(body);
  };
  function push() {
    timer = null;
    lastPush = Date.now();
    if (clients.size === 0) return;
    const body = `event: state\ndata: ${JSON.stringify(view())}\n\n`;
    for (const res of clients) send(res, body);
  }
  function schedule() {
    if (timer || clients.size === 0) return;
    timer = setTimeout(push, Math.max(0, PUSH_EVERY_MS - (Date.now() - lastPush)));
  }

  function onEvent(a: AppliedDomainEvent) {
    const kind = kindOf(a.event.stream);
    if (kind !== 'room' && kind !== 'recording' && kind !== 'peer' && kind !== 'composition') return;
    if (a.type === 'peer.media.stats') {
      const prev = rates.get(a.event.stream);
      const next: { at: number; audio?: TrackRate; video?: TrackRate } = { at: a.event.time };
      for (const k of ['audio', 'video'] as Kind[]) {
        const s = a.event.data.byKind?.[k];
        const p = prev?.[k];
        if (!s) {
          if (p) next[k] = p;
          continue;
        }
        const ms = prev ? a.event.time - prev.at : 0;
        next[k] = {
          packets: (p?.packets ?? 0) + s.packets,
          lost: (p?.lost ?? 0) + s.lost,
          bytes: (p?.bytes ?? 0) + s.bytes,
          bitrateKbps: ms > 0 ? Math.round((s.bytes * 8) / ms) : (p?.bitrateKbps ?? null),
        };
      }
      rates.set(a.event.stream, next);
    } else if (a.type === 'peer.offer.received' || a.type === 'peer.closed') {
      rates.delete(a.event.stream); // a new offer is a new peer: its counts start again
    }
    schedule();
  }
  const off = runtime.onEvent(onEvent);
  const keepalive = setInterval(() => {
    for (const res of clients) send(res, `: keepalive\n\n`);
  }, KEEPALIVE_MS);
  keepalive.unref();

  return {
    view,
    serve(req, res) {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      if (req.method === 'HEAD') return void res.end();
      res.write(`retry: 2000\nevent: state\ndata: ${JSON.stringify(view())}\n\n`);
      clients.add(res);
      log.debug({ clients: clients.size }, 'console connected');
      res.on('close', () => {
        clients.delete(res);
        log.debug({ clients: clients.size }, 'console disconnected');
      });
    },
    get clients() {
      return clients.size;
    },
    close() {
      off();
      clearInterval(keepalive);
      if (timer) clearTimeout(timer);
      for (const res of clients) res.end();
      clients.clear();
    },
  };
}
