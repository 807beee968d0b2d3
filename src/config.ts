import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { formatSchema, layoutSchema, type Format, type Layout } from '../events/catalog.js';
import { originOf } from './auth/origin.js';
import type { StorageConfig } from './integrations/storage/types.js';
import { iceConfigFromEnv, type IceConfig } from './recorder/ice.js';
import { DEFAULT_LIMITS, type SignalingLimits } from './signaling/limits.js';

/**
 * How the server's node runs (package.json's start script says the same).
 * A 64 MB young generation: the runtime allocates a snapshot, a context copy
 * and an event per dispatch, and with V8's default (16 MB) scavenges took a
 * fifth of dispatch and replay time (tools/bench-core.ts).
 */
export const SERVER_NODE_ARGS = ['--max-semi-space-size=64', '--import', 'tsx'];

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().min(1).optional(),
  RECORDING_DIR: z.string().min(1).default('recordings'),
  /** Where the embedded event log and the checkpoints live (default `<RECORDING_DIR>/.eventlog`): another disk keeps the log writable when the media fill theirs. */
  EVENTLOG_DIR: z.string().min(1).optional(),
  /** Free-space reserve (MB) on RECORDING_DIR (and EVENTLOG_DIR): below it new recordings are refused and running ones stopped. */
  MIN_FREE_DISK_MB: z.coerce.number().min(0).default(500),
  /** How often the free space is checked. */
  DISK_CHECK_INTERVAL_MS: z.coerce.number().int().min(50).max(600_000).default(2000),
  NATS_URL: z.string().min(1).optional(),
  /** JetStream names (several deployments can share one server). */
  NATS_EVENT_STREAM: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('MR_EVENTS'),
  NATS_SUBJECT_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/).default('mr.ev'),
  NATS_COMPOSE_STREAM: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('MR_COMPOSE'),
  /** A composer worker silent for this long loses its job to another worker. */
  COMPOSE_ACK_WAIT_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
  /** Names this process in NATS mode: rooms opened here are recovered by a process with the same id. */
  NODE_ID: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/).optional(),
  /** NATS mode: a node not heard from for this long has lost its lease; another node takes over its rooms and members. */
  NODE_TIMEOUT_MS: z.coerce.number().int().min(500).max(600_000).default(15_000),
  /** all = signaling + recorder + composer; signaling = no composer worker; composer = worker only (NATS). */
  ROLE: z.enum(['all', 'signaling', 'composer']).default('all'),
  COMPOSER_CONCURRENCY: z.coerce.number().int().min(0).max(16).default(1),
  DELETE_TRACKS_AFTER_COMPOSE: z.enum(['0', '1', 'true', 'false']).default('0'),
  LIVE_COMPOSE: z.enum(['0', '1', 'true', 'false']).default('0'),
  LIVE_COMPOSE_WINDOW_MS: z.coerce.number().int().min(2000).max(120_000).default(10_000),
  LIVE_COMPOSE_MAX: z.coerce.number().int().min(1).max(64).default(1),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** fsync every batch of the embedded log (default on). */
  EVENTLOG_FSYNC: z.enum(['0', '1', 'true', 'false']).default('1'),
  FFMPEG_PATH: z.string().min(1).optional(),
  FFPROBE_PATH: z.string().min(1).optional(),
  // Abuse limits (README "Limits").
  MAX_SOCKETS_PER_ADDRESS: z.coerce.number().int().min(1).default(DEFAULT_LIMITS.socketsPerAddress),
  MAX_MESSAGES_PER_SECOND: z.coerce.number().positive().default(DEFAULT_LIMITS.messagesPerSecond),
  MAX_MESSAGE_BURST: z.coerce.number().int().min(1).default(DEFAULT_LIMITS.messageBurst),
  MAX_ROOM_MEMBERS: z.coerce.number().int().min(1).default(DEFAULT_LIMITS.membersPerRoom),
  MAX_LIVE_ROOMS: z.coerce.number().int().min(1).default(DEFAULT_LIMITS.liveRooms),
  MAX_REOFFERS_PER_MINUTE: z.coerce.number().int().min(0).default(DEFAULT_LIMITS.reoffersPerMinute),
  /** At most a day: the recorder's level windows are bounded by the same day (src/recorder/audio-levels.ts). */
  MAX_RECORDING_SECONDS: z.coerce.number().int().min(1).max(86_400).default(14_400),
  /** How long a finished actor stays in memory before it is evicted (read back from the log when asked for). */
  ACTOR_GRACE_MS: z.coerce.number().int().min(0).max(3_600_000).default(10_000),
  /** Turns access control on: tokens are HS256 JWTs signed with it (tools/token.ts). */
  AUTH_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Origins (scheme://host[:port]) besides the server's own that may act on the API and open sockets, and get CORS headers. */
  ALLOWED_ORIGINS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const list = (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      const origins: string[] = [];
      for (const o of list) {
        const origin = originOf(o);
        if (origin) origins.push(origin);
        else ctx.addIssue({ code: 'custom', message: `${o} is not an origin like https://meet.example.com` });
      }
      return origins;
    }),
  /** The server's address as browsers reach it (token links; also counts as the server's own origin). */
  PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** Lifetime of signed downloadUrl / streamUrl links. */
  SIGNED_URL_TTL_SECONDS: z.coerce.number().int().min(10).max(7 * 24 * 3600).default(3600),
  /** Credentials and TLS for both NATS connections (event log, composition queue). */
  NATS_USER: z.string().min(1).optional(),
  NATS_PASSWORD: z.string().min(1).optional(),
  NATS_TOKEN: z.string().min(1).optional(),
  NATS_CREDS: z.string().min(1).optional(),
  NATS_TLS_CA: z.string().min(1).optional(),
  /** Object storage (README "Object storage"): set a bucket and every composed file is uploaded. */
  S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name').optional(),
  S3_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_PREFIX: z.string().max(512).default(''),
  S3_FORCE_PATH_STYLE: z.enum(['0', '1', 'true', 'false']).default('0'),
  S3_UPLOAD_TRACKS: z.enum(['0', '1', 'true', 'false']).default('0'),
  DELETE_LOCAL_AFTER_UPLOAD: z.enum(['0', '1', 'true', 'false']).default('0'),
  /** Automatic upload attempts and the backoff between them (doubling from the base, at most the max). */
  S3_UPLOAD_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(1000).default(20),
  S3_UPLOAD_RETRY_BASE_MS: z.coerce.number().int().min(1).default(5_000),
  S3_UPLOAD_RETRY_MAX_MS: z.coerce.number().int().min(1).default(15 * 60_000),
  /** Bearer token that may read GET /metrics (besides an operator token when AUTH_SECRET is set). */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Standard Webhooks endpoints (comma-separated http(s) URLs) and their signing secret. */
  WEBHOOK_URLS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const urls = (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      for (const u of urls) if (!/^https?:\/\/[^\s]+$/.test(u) || !URL.canParse(u)) ctx.addIssue({ code: 'custom', message: `${u} is not an http(s) URL` });
      return urls;
    }),
  WEBHOOK_SECRET: z
    .string()
    .regex(/^(whsec_)?[A-Za-z0-9+/]{16,}={0,2}$/, 'must be whsec_ followed by base64 (Standard Webhooks)')
    .optional(),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /** A message without a 2xx is retried (exponential backoff) this long after its first failure, then given up. */
  WEBHOOK_MAX_RETRY_HOURS: z.coerce.number().positive().max(24 * 30).default(24),
  WEBHOOK_RETRY_MIN_MS: z.coerce.number().int().min(10).default(1_000),
  WEBHOOK_RETRY_MAX_MS: z.coerce.number().int().min(10).default(600_000),
  /** Record every room from the moment its host joins. */
  AUTO_RECORD: z.enum(['0', '1', 'true', 'false']).default('0'),
  AUTO_RECORD_LAYOUT: layoutSchema.default('grid'),
  AUTO_RECORD_FORMAT: formatSchema.default('webm'),
});

export interface Config {
  port: number;
  host: string | undefined;
  recordingDir: string;
  /** The embedded event log's folder and the checkpoints' (absolute). */
  eventLogDir: string;
  /** Free space below this (bytes) on the recordings' or the log's filesystem: no new recording, running ones stopped (`disk-low`). */
  minFreeDiskBytes: number;
  diskCheckIntervalMs: number;
  natsUrl: string | undefined;
  nats: {
    eventStream: string;
    subjectPrefix: string;
    composeStream: string;
    composeAckWaitMs: number;
    user?: string;
    password?: string;
    token?: string;
    /** A .creds file (JWT + nkey seed). */
    credsFile?: string;
    /** A CA bundle: the connections use TLS and trust it. */
    tlsCaFile?: string;
  };
  nodeId: string;
  /** NODE_TIMEOUT_MS (NATS mode): lease timeout of a node. */
  nodeTimeoutMs: number;
  role: 'all' | 'signaling' | 'composer';
  composerConcurrency: number;
  deleteTracksAfterCompose: boolean;
  /** Compose while recording (src/composer/live); null: only after the stop. */
  /** maxSessions: recordings one process composes live at once; the others are composed after their stop. */
  liveCompose: { windowMs: number; maxSessions: number } | null;
  logLevel: string;
  eventLogFsync: boolean;
  ffmpegPath: string | undefined;
  ffprobePath: string | undefined;
  ice: IceConfig;
  limits: SignalingLimits;
  /** A recording this long is stopped (`limit-reached`) and composed. */
  maxRecordingMs: number;
  /** Grace period of finished actors in memory (src/runtime/eviction.ts). */
  actorGraceMs: number;
  auth: {
    /** Unset: access control is off (anyone who can reach the server can record and download). */
    secret: string | undefined;
    allowedOrigins: string[];
    publicUrl: string | undefined;
    signedUrlTtlSeconds: number;
  };
  /** Null without S3_BUCKET: nothing is uploaded. */
  storage: StorageConfig | null;
  metricsToken: string | undefined;
  /** Null: no webhooks. */
  webhooks: {
    urls: string[];
    secret: string;
    timeoutMs: number;
    retry: { minDelayMs: number; maxDelayMs: number; maxAgeMs: number };
  } | null;
  /** Null: rooms are recorded only on request. */
  autoRecord: { layout: Layout; format: Format } | null;
}

const yes = (v: string) => v === '1' || v === 'true';

/** Reads the configuration from the environment; a bad value is an error naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const r = envSchema.safeParse(env);
  if (!r.success) {
    const msgs = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration: ${msgs.join('; ')}`);
  }
  const e = r.data;
  if (e.ROLE === 'composer' && !e.NATS_URL) throw new Error('ROLE=composer needs NATS_URL (a worker takes jobs from the JetStream queue)');
  if (!!e.NATS_USER !== !!e.NATS_PASSWORD) throw new Error('invalid configuration: NATS_USER and NATS_PASSWORD go together');
  if ([e.NATS_USER, e.NATS_TOKEN, e.NATS_CREDS].filter(Boolean).length > 1) {
    throw new Error('invalid configuration: set one of NATS_USER/NATS_PASSWORD, NATS_TOKEN, NATS_CREDS');
  }
  if (e.WEBHOOK_URLS.length > 0 && !e.WEBHOOK_SECRET) throw new Error('invalid configuration: WEBHOOK_URLS needs WEBHOOK_SECRET (whsec_…)');
  return {
    port: e.PORT,
    host: e.HOST,
    recordingDir: resolve(e.RECORDING_DIR),
    eventLogDir: resolve(e.EVENTLOG_DIR ?? join(e.RECORDING_DIR, '.eventlog')),
    minFreeDiskBytes: Math.round(e.MIN_FREE_DISK_MB * 1024 * 1024),
    diskCheckIntervalMs: e.DISK_CHECK_INTERVAL_MS,
    natsUrl: e.NATS_URL,
    nats: {
      eventStream: e.NATS_EVENT_STREAM,
      subjectPrefix: e.NATS_SUBJECT_PREFIX,
      composeStream: e.NATS_COMPOSE_STREAM,
      composeAckWaitMs: e.COMPOSE_ACK_WAIT_MS,
      user: e.NATS_USER,
      password: e.NATS_PASSWORD,
      token: e.NATS_TOKEN,
      credsFile: e.NATS_CREDS,
      tlsCaFile: e.NATS_TLS_CA,
    },
    nodeId: e.NODE_ID ?? (e.NATS_URL ? `${hostname()}:${e.PORT}` : 'embedded'),
    nodeTimeoutMs: e.NODE_TIMEOUT_MS,
    role: e.ROLE,
    composerConcurrency: e.COMPOSER_CONCURRENCY,
    deleteTracksAfterCompose: yes(e.DELETE_TRACKS_AFTER_COMPOSE),
    liveCompose: yes(e.LIVE_COMPOSE) ? { windowMs: e.LIVE_COMPOSE_WINDOW_MS, maxSessions: e.LIVE_COMPOSE_MAX } : null,
    logLevel: e.LOG_LEVEL,
    eventLogFsync: yes(e.EVENTLOG_FSYNC),
    ffmpegPath: e.FFMPEG_PATH,
    ffprobePath: e.FFPROBE_PATH,
    ice: iceConfigFromEnv(env),
    limits: {
      socketsPerAddress: e.MAX_SOCKETS_PER_ADDRESS,
      messagesPerSecond: e.MAX_MESSAGES_PER_SECOND,
      messageBurst: e.MAX_MESSAGE_BURST,
      membersPerRoom: e.MAX_ROOM_MEMBERS,
      liveRooms: e.MAX_LIVE_ROOMS,
      reoffersPerMinute: e.MAX_REOFFERS_PER_MINUTE,
    },
    maxRecordingMs: e.MAX_RECORDING_SECONDS * 1000,
    actorGraceMs: e.ACTOR_GRACE_MS,
    auth: {
      secret: e.AUTH_SECRET,
      allowedOrigins: e.ALLOWED_ORIGINS,
      publicUrl: e.PUBLIC_URL,
      signedUrlTtlSeconds: e.SIGNED_URL_TTL_SECONDS,
    },
    storage: e.S3_BUCKET
      ? {
          bucket: e.S3_BUCKET,
          endpoint: e.S3_ENDPOINT,
          region: e.S3_REGION,
          accessKeyId: e.S3_ACCESS_KEY_ID,
          secretAccessKey: e.S3_SECRET_ACCESS_KEY,
          prefix: e.S3_PREFIX,
          forcePathStyle: yes(e.S3_FORCE_PATH_STYLE),
          uploadTracks: yes(e.S3_UPLOAD_TRACKS),
          deleteLocal: yes(e.DELETE_LOCAL_AFTER_UPLOAD),
          retry: { maxAttempts: e.S3_UPLOAD_MAX_ATTEMPTS, baseMs: e.S3_UPLOAD_RETRY_BASE_MS, maxMs: Math.max(e.S3_UPLOAD_RETRY_MAX_MS, e.S3_UPLOAD_RETRY_BASE_MS) },
          presignTtlSeconds: e.SIGNED_URL_TTL_SECONDS,
        }
      : null,
    metricsToken: e.METRICS_TOKEN,
    webhooks:
      e.WEBHOOK_URLS.length > 0 && e.WEBHOOK_SECRET
        ? {
            urls: e.WEBHOOK_URLS,
            secret: e.WEBHOOK_SECRET,
            timeoutMs: e.WEBHOOK_TIMEOUT_MS,
            retry: {
              minDelayMs: e.WEBHOOK_RETRY_MIN_MS,
              maxDelayMs: Math.max(e.WEBHOOK_RETRY_MIN_MS, e.WEBHOOK_RETRY_MAX_MS),
              maxAgeMs: e.WEBHOOK_MAX_RETRY_HOURS * 3_600_000,
            },
          }
        : null,
    autoRecord: yes(e.AUTO_RECORD) ? { layout: e.AUTO_RECORD_LAYOUT, format: e.AUTO_RECORD_FORMAT } : null,
  };
}
