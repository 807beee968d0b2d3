import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { createAccessControl } from './auth/index.js';
import { createComposer } from './composer/composer.js';
import type { Config } from './config.js';
import { toIdChars } from '../events/ids.js';
import { createCompositionEffects } from './effects/composition.js';
import { createLiveComposer } from './composer/live/index.js';
import { attachLiveComposer } from './composer/live/driver.js';
import { createRecorderEffects } from './effects/recorder.js';
import { createHttpApi } from './http/index.js';
import { startDiskGuard, type DiskGuard } from './health/disk-guard.js';
import { createDiskMonitor } from './health/disk.js';
import { createReadiness, watchAppends } from './health/readiness.js';
import { startSharedDirCheck, type SharedDir } from './health/shared-dir.js';
import { createMetrics, type Metrics } from './integrations/metrics.js';
import { createObjectStore } from './integrations/storage/s3.js';
import { createUploads } from './integrations/storage/uploads.js';
import { createEventLog, type EventLog } from './log/index.js';
import { natsConnectOptions } from './nats-options.js';
import { createCompositionQueue } from './queue/index.js';
import { createCheckpointScheduler, createFileCheckpointStore } from './runtime/checkpoint.js';
import { openOutboxFile } from './runtime/outbox-file.js';
import { recover, referencedNodes, takeOverNode } from './runtime/recovery.js';
import { createNatsTakeoverClaims } from './runtime/takeover-claims.js';
import { createNatsLeaseBus, startLeases, type Leases } from './runtime/leases.js';
import { createNatsRelayBus } from './signaling/relay.js';
import { recordingStream } from '../events/streams.js';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { startRecordingLimit, type RecordingLimit } from './runtime/recording-limit.js';
import { createRuntime, type Runtime } from './runtime/runtime.js';
import { createSignaling, type Signaling } from './signaling/index.js';
import { fileUrls } from './http/views.js';
import { startAutoRecord } from './integrations/auto-record.js';
import { startWebhooks, type Webhooks } from './integrations/webhooks/index.js';

export interface AppOptions {
  logger?: Logger;
  /** Recorder-peer timeouts, for tests. */
  peerOptions?: { noMediaTimeoutMs?: number; stallTimeoutMs?: number; statsIntervalMs?: number };
  pingIntervalMs?: number;
  /** The embedded log's file write, for tests of a failing disk. */
  eventLogWrite?: import('./log/embedded.js').EmbeddedLogOptions['write'];
}

export interface App {
  runtime: Runtime;
  log: EventLog;
  /** http://host:port of the signaling/HTTP server (null for a composer-only process). */
  url: string | null;
  server: Server | null;
  /** The process's Prometheus metrics (GET /metrics); the webhook sender feeds metrics.webhook*. */
  metrics: Metrics;
  /** Closes everything, finalizing (and, where needed, remuxing) every open track file. Idempotent. */
  stop(): Promise<void>;
  /**
   * SIGTERM: refuses new rooms and recordings, closes the sockets (members
   * are not reported as left), finalizes every open track file without the
   * remux, then stops. Running recordings stay `recording` in the log: the
   * next process's recovery stops them as `interrupted` and composes them.
   */
  drain(): Promise<void>;
}

const publicDir = fileURLToPath(new URL('../public', import.meta.url));

/**
 * Wires one process: the event log (embedded file or JetStream), the runtime
 * with its effects, recovery of whatever an earlier process left in flight,
 * then the signaling/HTTP server and the composer worker as the role asks.
 */
export async function startApp(config: Config, opts: AppOptions = {}): Promise<App> {
  const logger = opts.logger ?? pino({ level: config.logLevel });
  mkdirSync(config.recordingDir, { recursive: true });
  const newId = () => crypto.randomUUID();
  const natsOptions = config.natsUrl ? natsConnectOptions(config) : {};

  // Appends watched: /readyz says when the log stops taking them.
  const metrics = createMetrics();
  const { log, health: appends } = watchAppends(
    metrics.instrumentLog(await createEventLog({
      natsUrl: config.natsUrl,
      natsConnectOptions: natsOptions,
      natsStream: config.nats.eventStream,
      subjectPrefix: config.nats.subjectPrefix,
      dir: config.eventLogDir,
      recordingDir: config.recordingDir,
      fsync: config.eventLogFsync,
      write: opts.eventLogWrite,
      logger,
    })),
  );
  // MIN_FREE_DISK_MB on the media's filesystem and the log's (when it is another one).
  const disk = createDiskMonitor({
    dirs: config.natsUrl ? [config.recordingDir] : [config.recordingDir, config.eventLogDir],
    minFreeBytes: config.minFreeDiskBytes,
    intervalMs: config.diskCheckIntervalMs,
    logger,
  });
  await disk.start();

  const queue = await createCompositionQueue({
    natsUrl: config.natsUrl,
    natsStream: config.nats.composeStream,
    ackWaitMs: config.nats.composeAckWaitMs,
    connectOptions: natsOptions,
    logger: logger.child({ module: 'compose-queue' }),
  });

  // NATS mode, nodes that take sockets: relayed messages and node leases over NATS core (neither is in the log).
  const cluster: NatsConnection | null =
    config.natsUrl && config.role !== 'composer'
      ? await natsConnect({ ...natsOptions, servers: config.natsUrl, name: `meeting-recorder-cluster-${config.nodeId}`, maxReconnectAttempts: -1 })
      : null;
  let leases: Leases | null = null;
  // Set once the runtime exists (the recorder's effects are built before it).
  let runtimeRef: Runtime | null = null;
  const recorder = createRecorderEffects({
    root: config.recordingDir,
    ice: config.ice,
    ffmpegPath: config.ffmpegPath, ffprobePath: config.ffprobePath,
    logger: logger.child({ module: 'recorder' }),
    peerOptions: opts.peerOptions,
    heldElsewhere: (recordingId, participantId) => {
      const holder = runtimeRef?.get(recordingStream(recordingId))?.context.participants?.[participantId]?.nodeId as string | undefined;
      return !!holder && holder !== config.nodeId && !!leases?.isAlive(holder);
    },
  });
  const composer = createComposer({
    root: config.recordingDir,
    ffmpegPath: config.ffmpegPath,
    ffprobePath: config.ffprobePath,
    deleteInputsOnSuccess: config.deleteTracksAfterCompose,
    logger: logger.child({ module: 'composer' }),
  });
  // Compose while recording where this process also composes; the job finishes it, or composes after the stop.
  const live =
    config.liveCompose && config.role !== 'signaling' && config.composerConcurrency > 0
      ? createLiveComposer({
          root: config.recordingDir,
          ffmpegPath: config.ffmpegPath,
          ffprobePath: config.ffprobePath,
          windowMs: config.liveCompose.windowMs,
          maxSessions: config.liveCompose.maxSessions,
          logger: logger.child({ module: 'live-composer' }),
          // Each window's progress into the log: any node shows it, the replay keeps how it went.
          onStatus: (s) => {
            if (s.state !== 'recording' || !runtimeRef) return;
            runtimeRef
              .dispatch({
                stream: recordingStream(s.recordingId),
                type: 'recording.live.progressed',
                data: { composedUpToMs: Math.round(s.composedUpToMs), lagMs: Math.round(s.lagMs), chunks: s.chunks, workerId: `${config.nodeId}/${process.pid}` },
              })
              .catch((err) => logger.debug({ err: (err as Error).message, recordingId: s.recordingId }, 'live progress not recorded'));
          },
        })
      : null;
  const compositions = createCompositionEffects({ queue, composer: live ? live.wrap(composer) : composer, logger: logger.child({ module: 'composition-worker' }) });
  const objectStore = config.storage ? createObjectStore(config.storage) : null;
  const uploads =
    config.storage && objectStore
      ? createUploads({ store: objectStore, config: config.storage, root: config.recordingDir, workerId: `${config.nodeId}/${process.pid}`, logger })
      : null;

  // Per process and log, beside the checkpoints: events the log refused survive this process.
  const outboxFile = await openOutboxFile({
    file: join(config.eventLogDir, `outbox-${config.natsUrl ? `nats-${config.nats.eventStream}` : 'embedded'}-${toIdChars(config.nodeId)}.jsonl`),
    logger: logger.child({ module: 'outbox' }),
  });
  const runtime = createRuntime({
    log,
    outboxFile,
    logger: logger.child({ module: 'runtime' }),
    newId,
    actorGraceMs: config.actorGraceMs,
    // A lost node's timers fire on the node that takes over, a timeout after they were due.
    shadowTimers: cluster ? { graceMs: config.nodeTimeoutMs, fires: () => !!leases?.isTaker() } : undefined,
    effects: {
      ...recorder.handlers,
      ...compositions.handlers,
      ...uploads?.handlers,
    },
  });
  runtimeRef = runtime;
  const unwatchMetrics = metrics.attach(runtime);

  // A checkpoint per process and log: restarts fold only what came after it.
  const checkpoints = createFileCheckpointStore(
    join(config.eventLogDir, `checkpoint-${config.natsUrl ? `nats-${config.nats.eventStream}` : 'embedded'}-${toIdChars(config.nodeId)}.json`),
    (msg) => logger.warn(msg),
  );
  const loadStarted = Date.now();
  const { folded, fromCheckpoint } = await runtime.load(
    (problem) => logger.warn({ problem }, 'skipped an unreadable log entry'),
    await checkpoints.load(),
  );
  runtime.follow();
  logger.info(
    { events: folded, fromCheckpoint, ms: Date.now() - loadStarted, mode: config.natsUrl ? 'nats' : 'embedded', nodeId: config.nodeId },
    'event log loaded',
  );
  // What the previous process decided but could not append (the log was down when it died): appended now, before recovery reads the state.
  await runtime.redeliver();
  const checkpointing = createCheckpointScheduler({ runtime, store: checkpoints, logger });
  await checkpointing.start();
  if (config.role !== 'composer') {
    await recover(runtime, {
      nodeId: config.nodeId,
      queueIsDurable: queue.durable,
      root: config.recordingDir,
      logger: logger.child({ module: 'recovery' }),
    });
  }
  const unfollowPeers = cluster ? recorder.follow(runtime) : null;
  if (cluster) {
    leases = startLeases({
      bus: createNatsLeaseBus({ nc: cluster, subjectPrefix: config.nats.subjectPrefix, logger }),
      nodeId: config.nodeId,
      timeoutMs: config.nodeTimeoutMs,
      referenced: () => referencedNodes(runtime),
      claim: createNatsTakeoverClaims({
          nc: cluster,
          eventStream: config.nats.eventStream,
          subjectPrefix: config.nats.subjectPrefix,
          nodeId: config.nodeId,
          holdMs: config.nodeTimeoutMs,
          logger,
        }).claim,
      takeOver: async (lost) => {
        await takeOverNode(runtime, lost, {
          root: config.recordingDir,
          logger: logger.child({ module: 'takeover' }),
          reportFromDisk: (recordingId, participantId, reason) => recorder.reportFromDisk(runtime, recordingId, participantId, reason),
        });
      },
      logger,
    });
  }
  const sharedDir: SharedDir | null = leases
    ? await startSharedDirCheck({
        root: config.recordingDir,
        nodeId: config.nodeId,
        peers: () => leases?.alive() ?? [],
        intervalMs: Math.max(1_000, Math.floor(config.nodeTimeoutMs / 3)),
        logger,
      })
    : null;
  const unwatchUploads = uploads ? await uploads.attach(runtime) : null;
  const unwatchLive = live ? attachLiveComposer(runtime, live, logger.child({ module: 'live-composer' })) : null;
  const recordingLimit: RecordingLimit | null =
    config.role !== 'composer' ? startRecordingLimit({ runtime, maxMs: config.maxRecordingMs, nodeId: config.nodeId, logger }) : null;
  const diskGuard: DiskGuard | null = config.role !== 'composer' ? startDiskGuard({ runtime, monitor: disk, nodeId: config.nodeId, logger }) : null;

  if (config.role !== 'signaling' && config.composerConcurrency > 0) {
    const workerId = `${config.nodeId}/${process.pid}`;
    compositions.startWorker({ runtime, workerId, concurrency: config.composerConcurrency });
    logger.info({ workerId, concurrency: config.composerConcurrency }, 'composition worker ready');
  }

  let draining = false;
  const isDraining = () => draining;
  let server: Server | null = null;
  let signaling: Signaling | null = null;
  let url: string | null = null;
  let webhooks: Webhooks | null = null;
  const autoRecord =
    config.autoRecord && config.role !== 'composer'
      ? startAutoRecord({ runtime, ...config.autoRecord, newId, logger })
      : null;
  if (config.role !== 'composer') {
    const access = createAccessControl(config.auth);
    if (!access.enabled) logger.warn('AUTH_SECRET is not set: access control is OFF, anyone who can reach this server can record and download');
    const secureCookies = config.auth.publicUrl?.startsWith('https:') ?? false;
    const api = createHttpApi({
      runtime,
      log,
      root: config.recordingDir,
      logger,
      newId,
      publicDir,
      access,
      secureCookies,
      draining: isDraining,
      readiness: createReadiness({ log, appends, disk, others: sharedDir ? () => sharedDir.problems() : undefined }),
      ...(live
        ? {
            liveStatus: (id: string) => {
              const s = live.status(id);
              return s ? { state: s.state, composedUpToMs: s.composedUpToMs, lagMs: s.lagMs, chunks: s.chunks } : null;
            },
          }
        : {}),
      storageRefusal: async () => {
        const space = await disk.check();
        return space.ok ? null : space.reasons.join('; ');
      },
      metrics,
      metricsToken: config.metricsToken,
      objectUrl: uploads?.presign,
    });
    server = createServer(api);
    signaling = createSignaling({
      runtime,
      server,
      logger,
      nodeId: config.nodeId,
      newId,
      pingIntervalMs: opts.pingIntervalMs,
      limits: config.limits,
      access,
      draining: isDraining,
      relayBus: cluster ? createNatsRelayBus({ nc: cluster, subjectPrefix: config.nats.subjectPrefix, logger }) : undefined,
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(config.port, config.host, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    url = `http://${host === '[::]' ? '127.0.0.1' : host === '0.0.0.0' ? '127.0.0.1' : host}:${addr.port}`;
    logger.info({ url, recordingDir: config.recordingDir }, 'meeting-recorder listening');
    if (config.webhooks) {
      const base = (config.auth.publicUrl ?? url).replace(/\/+$/, '');
      webhooks = startWebhooks({
        runtime,
        log,
        urls: config.webhooks.urls,
        secret: config.webhooks.secret,
        nodeId: config.nodeId,
        // NATS mode: every node follows the log, the lease holder delivers (the embedded mode is one process).
        leaseMs: config.natsUrl ? 30_000 : null,
        timeoutMs: config.webhooks.timeoutMs,
        retry: config.webhooks.retry,
        mapping: { fileUrls: (meetingId, filename) => fileUrls(meetingId, filename, (p) => base + access.fileUrl(p)) },
        logger,
      });
      logger.info({ endpoints: webhooks.endpoints.length }, 'webhooks on');
    }
  }

  /** skipRemux: a drain, where exiting inside the grace period matters more than tidy track files. */
  async function shutdown({ skipRemux }: { skipRemux: boolean }) {
    const started = Date.now();
    autoRecord?.close();
    await signaling?.close();
    // Finalize every open file before the runtime stops taking events; the HTTP API still answers meanwhile.
    const peers = await recorder.closeAll({ skipRemux });
    const finalizedMs = Date.now() - started;
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    checkpointing.pause();
    leases?.close();
    sharedDir?.close();
    unfollowPeers?.();
    recordingLimit?.close();
    diskGuard?.close();
    disk.close();
    unwatchLive?.();
    await live?.close();
    await compositions.stop();
    await webhooks?.stop();
    await checkpointing.stop();
    unwatchUploads?.();
    unwatchMetrics();
    await runtime.close();
    await outboxFile.close();
    objectStore?.close();
    await queue.close();
    await cluster?.close().catch(() => {});
    await log.close();
    logger.info({ peers, finalizedMs, ms: Date.now() - started, skipRemux }, skipRemux ? 'drained' : 'stopped');
  }

  let closing: Promise<void> | null = null;
  return {
    runtime,
    log,
    url,
    server,
    metrics,
    stop() {
      closing ??= shutdown({ skipRemux: false });
      return closing;
    },
    drain() {
      draining = true;
      if (!closing) logger.info('draining: new rooms and recordings are refused; finalizing open track files');
      closing ??= shutdown({ skipRemux: true });
      return closing;
    },
  };
}
