import type { Logger } from 'pino';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { StreamKind } from '../../events/streams.js';
import { machines, recordingStream, stopCompositionJobId } from '../../machines/index.js';
import type { EventLog } from '../log/types.js';
import type { AppliedDomainEvent, Runtime } from '../runtime/runtime.js';

/**
 * The Prometheus metrics of one process (README "Metrics"), on a registry of
 * its own. Nothing in the machines or effects counts: counters are derived
 * from the events this process applied itself (`local`, so a cluster's sum
 * counts each fact once), gauges from the runtime's state at scrape time
 * (every node folds every stream, so those read the same on every node).
 */
export function createMetrics(opts: { logger?: Logger; defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let runtime: Runtime | null = null;
  /** Default: how many log events the slowest endpoint's cursor is behind (read from the runtime's webhook actors). */
  let webhookBacklog: () => number = () => {
    if (!runtime) return 0;
    const last = runtime.lastSeq;
    return runtime.list('webhook').reduce((n, a) => Math.max(n, last - (a.snapshot.context.cursor?.seq ?? 0)), 0);
  };

  const statesOf = (kind: StreamKind) => Object.keys(machines[kind].root.states);
  /** Actors of a kind counted by state (every state present, zeros included). */
  function byState(kind: StreamKind): Map<string, number> {
    const counts = new Map(statesOf(kind).map((s) => [s, 0]));
    for (const a of runtime?.list(kind) ?? []) counts.set(String(a.snapshot.value), (counts.get(String(a.snapshot.value)) ?? 0) + 1);
    return counts;
  }
  const stateGauge = (name: string, help: string, kind: StreamKind) =>
    new Gauge({
      name,
      help,
      labelNames: ['state'],
      registers,
      collect() {
        for (const [state, n] of byState(kind)) this.set({ state }, n);
      },
    });

  // ---- state, read at scrape time ----
  new Gauge({
    name: 'mr_rooms_live',
    help: 'Rooms open now',
    registers,
    collect() {
      this.set((runtime?.list('room') ?? []).filter((a) => a.snapshot.value === 'open').length);
    },
  });
  new Gauge({
    name: 'mr_room_members',
    help: 'Members of the open rooms',
    registers,
    collect() {
      let n = 0;
      for (const a of runtime?.list('room') ?? []) if (a.snapshot.value === 'open') n += Object.keys(a.snapshot.context.members).length;
      this.set(n);
    },
  });
  // What the runtime holds in memory (the soak tool reads it): live actors by kind, the evicted ones kept for the lists.
  new Gauge({
    name: 'mr_runtime_actors',
    help: 'Actors in memory: live ones by stream kind; kind "kept": evicted recordings and compositions kept for the API lists; kind "finishing": live finished ones waiting out ACTOR_GRACE_MS',
    labelNames: ['kind'],
    registers,
    collect() {
      if (!runtime) return;
      const s = runtime.stats();
      for (const [kind, n] of Object.entries(s.byKind)) this.set({ kind }, n);
      this.set({ kind: 'kept' }, s.kept);
      this.set({ kind: 'finishing' }, s.finishing);
    },
  });
  stateGauge('mr_recordings', 'Recording sessions by machine state', 'recording');
  stateGauge('mr_recorder_peers', 'Recorder peers by machine state', 'peer');
  stateGauge('mr_compositions', 'Composition jobs by machine state', 'composition');
  stateGauge('mr_uploads', 'Uploads (one per composition job) by machine state', 'upload');
  new Gauge({
    name: 'mr_composition_queue_depth',
    help: 'Composition jobs waiting for a worker (queued, or waiting for a retry backoff)',
    labelNames: ['state'],
    registers,
    collect() {
      const s = byState('composition');
      this.set({ state: 'queued' }, (s.get('queued') ?? 0) + (s.get('new') ?? 0));
      this.set({ state: 'retrying' }, s.get('retrying') ?? 0);
    },
  });
  new Gauge({
    name: 'mr_composition_jobs_running',
    help: 'Composition jobs a worker runs now',
    registers,
    collect() {
      this.set(byState('composition').get('running') ?? 0);
    },
  });
  const backlog = (name: string, help: string, of: (files: { sizeBytes: number }[]) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        let n = 0;
        for (const a of runtime?.list('upload') ?? []) {
          if (['pending', 'uploading', 'retrying'].includes(String(a.snapshot.value))) n += of(a.snapshot.context.files);
        }
        this.set(n);
      },
    });
  backlog('mr_upload_backlog_bytes', 'Bytes of the files of uploads not yet completed (pending, uploading, retrying)', (f) =>
    f.reduce((s, x) => s + x.sizeBytes, 0),
  );
  backlog('mr_upload_backlog_files', 'Files of uploads not yet completed', (f) => f.length);
  new Gauge({
    name: 'mr_webhook_backlog',
    help: 'Log events the slowest webhook endpoint has not yet settled (its cursor behind the log)',
    registers,
    collect() {
      this.set(webhookBacklog());
    },
  });

  // ---- counters and histograms, from this process's own events ----
  const packets = new Counter({ name: 'mr_recorder_packets_received_total', help: 'RTP packets received by recorder peers', labelNames: ['kind'], registers });
  const lost = new Counter({ name: 'mr_recorder_packets_lost_total', help: 'RTP packets lost (sequence gaps after NACK recovery)', labelNames: ['kind'], registers });
  const bytes = new Counter({ name: 'mr_recorder_bytes_total', help: 'Media bytes received by recorder peers and handed to the track writers', labelNames: ['kind'], registers });
  const segments = new Counter({ name: 'mr_recorder_segments_total', help: 'Track segments finalized', labelNames: ['kind'], registers });
  const compositionSeconds = new Histogram({
    name: 'mr_composition_duration_seconds',
    help: 'Wall time of a successful composition run',
    buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800],
    registers,
  });
  const compositionSpeed = new Histogram({
    name: 'mr_composition_speed_ratio',
    help: 'Media duration / wall time of a successful composition run (× realtime)',
    buckets: [0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16],
    registers,
  });
  const compositionFailures = new Counter({ name: 'mr_composition_failures_total', help: 'Composition runs that failed, by reason', labelNames: ['reason'], registers });
  const stopToReady = new Histogram({
    name: 'mr_recording_stop_to_ready_seconds',
    help: "From a recording's stop to its composed file being ready",
    buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600],
    registers,
  });
  const appendSeconds = new Histogram({
    name: 'mr_eventlog_append_seconds',
    help: 'Event log append latency (until durable)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });
  const appendErrors = new Counter({ name: 'mr_eventlog_append_errors_total', help: 'Event log appends that failed, by error', labelNames: ['error'], registers });
  const webhooks = new Counter({ name: 'mr_webhook_deliveries_total', help: 'Webhook delivery attempts by outcome', labelNames: ['outcome'], registers });
  const uploads = new Counter({ name: 'mr_uploads_total', help: 'Upload attempts by outcome (completed = every file verified)', labelNames: ['outcome'], registers });
  const uploadedBytes = new Counter({ name: 'mr_upload_bytes_total', help: 'Bytes uploaded and verified', registers });
  for (const kind of ['audio', 'video']) for (const c of [packets, lost, bytes, segments]) c.inc({ kind }, 0);
  for (const outcome of ['completed', 'failed']) uploads.inc({ outcome }, 0);

  const runStarted = new Map<string, number>();

  function onEvent(a: AppliedDomainEvent) {
    if (!a.local) return;
    switch (a.type) {
      case 'peer.media.stats': {
        const k = a.event.data.byKind;
        if (!k) break;
        for (const kind of ['audio', 'video'] as const) {
          const s = k[kind];
          if (!s) continue;
          packets.inc({ kind }, s.packets);
          lost.inc({ kind }, s.lost);
          bytes.inc({ kind }, s.bytes);
        }
        break;
      }
      case 'peer.segment.finalized':
        segments.inc({ kind: a.event.data.segment.kind });
        break;
      case 'composition.started':
        runStarted.set(`${a.event.stream}#${a.event.data.attempt}`, a.event.time);
        if (runStarted.size > 10_000) runStarted.delete(runStarted.keys().next().value!);
        break;
      case 'composition.completed': {
        const key = `${a.event.stream}#${a.event.data.attempt}`;
        const t0 = runStarted.get(key);
        runStarted.delete(key);
        if (t0 !== undefined) {
          const wall = Math.max(1, a.event.time - t0);
          compositionSeconds.observe(wall / 1000);
          compositionSpeed.observe(a.after.context.durationMs / wall);
        }
        const { recordingId, jobId } = a.after.context;
        const stoppedAt = runtime?.get(recordingStream(recordingId))?.context.stoppedAt;
        if (jobId === stopCompositionJobId(recordingId) && typeof stoppedAt === 'number') stopToReady.observe(Math.max(0, a.event.time - stoppedAt) / 1000);
        break;
      }
      case 'composition.failed':
        runStarted.delete(`${a.event.stream}#${a.event.data.attempt}`);
        compositionFailures.inc({ reason: failureReason(a.event.data.error) });
        break;
      case 'composition.timed-out':
        compositionFailures.inc({ reason: 'timed-out' });
        break;
      case 'upload.completed':
        uploads.inc({ outcome: 'completed' });
        uploadedBytes.inc(a.event.data.objects.reduce((s, o) => s + o.sizeBytes, 0));
        break;
      case 'upload.failed':
        uploads.inc({ outcome: 'failed' });
        break;
      // Webhook outcomes are events of the endpoint's stream (the node that delivered appended them).
      case 'webhook.delivered':
        webhooks.inc({ outcome: 'delivered' });
        break;
      case 'webhook.attempt.failed':
        webhooks.inc({ outcome: 'failed' });
        break;
      case 'webhook.abandoned':
        webhooks.inc({ outcome: 'abandoned' });
        break;
      default:
        break;
    }
  }

  return {
    registry,
    contentType: registry.contentType,
    /** Reads state from this runtime at scrape time and counts its applied events. Returns the unsubscribe. */
    attach(r: Runtime): () => void {
      runtime = r;
      return r.onEvent(onEvent);
    },
    /** The same log, its appends timed and their errors counted. */
    instrumentLog(log: EventLog): EventLog {
      return new Proxy(log, {
        get(target, prop) {
          const v = Reflect.get(target, prop, target);
          if (prop !== 'append') return typeof v === 'function' ? v.bind(target) : v;
          return async (...args: Parameters<EventLog['append']>) => {
            const end = appendSeconds.startTimer();
            try {
              const r = await target.append(...args);
              end();
              return r;
            } catch (err) {
              appendErrors.inc({ error: (err as Error)?.name || 'Error' });
              throw err;
            }
          };
        },
      });
    },
    /**
     * For the webhook sender: count one delivery attempt's outcome
     * (`delivered`, `failed`, `retrying`, `gave-up`, …) …
     */
    webhook(outcome: string) {
      webhooks.inc({ outcome });
    },
    /** … and tell how many messages wait (read at each scrape). */
    webhookBacklog(read: () => number) {
      webhookBacklog = read;
    },
    /** The exposition text. */
    text: () => registry.metrics(),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;

/** A composition failure's reason, from its error text (the composer's error codes, in words). */
export function failureReason(error: string): string {
  if (/^ffmpeg exited/.test(error)) return 'ffmpeg-failed';
  if (/^composed file rejected/.test(error)) return 'output-invalid';
  if (/^no track sidecars/.test(error)) return 'no-inputs';
  if (/aborted/.test(error)) return 'aborted';
  if (/timed out/.test(error)) return 'timed-out';
  if (/ffmpeg.*not found|ENOENT.*ffmpeg/i.test(error)) return 'ffmpeg-missing';
  if (/invalid compose request|outside the recordings root|dot name/.test(error)) return 'invalid-request';
  return 'other';
}
