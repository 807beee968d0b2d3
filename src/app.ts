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
import { createRecorderEffects } from './effects/recorder.js';
import { createHttpApi } from './http/index.js';
import { createEventLog, type EventLog } from './log/index.js';
import { natsConnectOptions } from './nats-options.js';
import { createCompositionQueue } from './queue/index.js';
import { createCheckpointScheduler, createFileCheckpointStore } from './runtime/checkpoint.js';
import { recover } from './runtime/recovery.js';
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
}

export interface App {
  runtime: Runtime;
  log: EventLog;
  /** http://host:port of the signaling/HTTP server (null for a composer-only process). */
  url: string | null;
  server: Server | null;
  stop(): Promise<void>;
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

  const log: EventLog = await createEventLog({
    natsUrl: config.natsUrl,
    natsConnectOptions: natsOptions,
    natsStream: config.nats.eventStream,
    subjectPrefix: config.nats.subjectPrefix,
    recordingDir: config.recordingDir,
    fsync: config.eventLogFsync,
    logger,
  });

  const queue = await createCompositionQueue({
    natsUrl: config.natsUrl,
    natsStream: config.nats.composeStream,
    ackWaitMs: config.nats.composeAckWaitMs,
    connectOptions: natsOptions,
    logger: logger.child({ module: 'compose-queue' }),
  });

  const recorder = createRecorderEffects({
    root: config.recordingDir,
    ice: config.ice,
    ffmpegPath: config.ffmpegPath, ffprobePath: config.ffprobePath,
    logger: logger.child({ module: 'recorder' }),
    peerOptions: opts.peerOptions,
  });
  const composer = createComposer({
    root: config.recordingDir,
    ffmpegPath: config.ffmpegPath,
    ffprobePath: config.ffprobePath,
    deleteInputsOnSuccess: config.deleteTracksAfterCompose,
    logger: logger.child({ module: 'composer' }),
  });
  const compositions = createCompositionEffects({ queue, composer, logger: logger.child({ module: 'composition-worker' }) });

  const runtime = createRuntime({
    log,
    logger: logger.child({ module: 'runtime' }),
    newId,
    effects: {
      ...recorder.handlers,
      ...compositions.handlers,
    },
  });

  // A checkpoint per process and log: restarts fold only what came after it.
  const checkpoints = createFileCheckpointStore(
    join(config.recordingDir, '.eventlog', `checkpoint-${config.natsUrl ? `nats-${config.nats.eventStream}` : 'embedded'}-${toIdChars(config.nodeId)}.json`),
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
  const recordingLimit: RecordingLimit | null =
    config.role !== 'composer' ? startRecordingLimit({ runtime, maxMs: config.maxRecordingMs, nodeId: config.nodeId, logger }) : null;

  if (config.role !== 'signaling' && config.composerConcurrency > 0) {
    const workerId = `${config.nodeId}/${process.pid}`;
    compositions.startWorker({ runtime, workerId, concurrency: config.composerConcurrency });
    logger.info({ workerId, concurrency: config.composerConcurrency }, 'composition worker ready');
  }

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
    const api = createHttpApi({ runtime, root: config.recordingDir, logger, newId, publicDir, access, secureCookies });
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

  let stopped = false;
  return {
    runtime,
    log,
    url,
    server,
    async stop() {
      if (stopped) return;
      stopped = true;
      autoRecord?.close();
      await signaling?.close();
      server?.closeAllConnections();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      // Finalize every open file before the runtime stops taking events.
      await recorder.closeAll();
      checkpointing.pause();
      recordingLimit?.close();
      await compositions.stop();
      await webhooks?.stop();
      await checkpointing.stop();
      await runtime.close();
      await queue.close();
      await log.close();
    },
  };
}
