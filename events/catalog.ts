import { z } from 'zod';
import { idSchema } from './ids.js';

/**
 * Every domain event's `data`, by type. Types are past-tense facts in dot-case;
 * the part before the first dot names the stream kind they belong to
 * (room.*, recording.*, peer.*, composition.*, upload.*, webhook.*).
 */
const layoutSchema = z.enum(['grid', 'host-led', 'host-only', 'speaker']);
const formatSchema = z.enum(['webm', 'mp4']);
export type Layout = z.infer<typeof layoutSchema>;
export type Format = z.infer<typeof formatSchema>;
export const LAYOUTS = layoutSchema.options;
export const FORMATS = formatSchema.options;
export { layoutSchema, formatSchema };

/**
 * Longest SDP (offer or answer) accepted anywhere: on the wire, in the log and
 * by the recorder. A browser's offer for a few tracks is a few kB.
 */
export const MAX_SDP_LENGTH = 64_000;
const sdp = z.string().min(1).max(MAX_SDP_LENGTH);

const role = z.enum(['host', 'participant']);
/** `userId`: the token's `sub` when access control is on (absent without it). */
const userId = z.string().min(1).max(200);
/** host-userInfo's `data` (the field's user info) lands in the log and in metadata: kept small. */
export const MAX_USER_INFO_JSON = 4096;
/** The sender's user info: userId, name and avatar are typed; any other field is kept as given. */
export const userInfoSchema = z
  .looseObject({
    userId: userId.optional(),
    name: z.string().max(200).optional(),
    avatar: z.string().max(2048).optional(),
  })
  .refine((v) => JSON.stringify(v).length <= MAX_USER_INFO_JSON, { message: `must be at most ${MAX_USER_INFO_JSON} characters of JSON` });
export type UserInfo = z.infer<typeof userInfoSchema>;
/** `nodeId`: the process holding the member's socket (and its recorder peer), in NATS mode any node. */
const member = z.object({
  participantId: idSchema,
  role,
  name: z.string().max(200).nullable(),
  userId: userId.optional(),
  /** The name / userId came from the access token: host-userInfo does not override them. */
  nameFromToken: z.boolean().optional(),
  userIdFromToken: z.boolean().optional(),
  avatar: z.string().max(2048).optional(),
  /** host-userInfo's data as the member sent it. */
  userInfo: userInfoSchema.optional(),
  nodeId: z.string().max(128).optional(),
});
export type Member = z.infer<typeof member>;
const segmentSummary = z.object({
  file: z.string().max(255),
  kind: z.enum(['audio', 'video']),
  segmentIndex: z.number().int().nonnegative(),
  offsetMs: z.number().nonnegative(),
  durationMs: z.number().nonnegative().nullable(),
  codec: z.string().max(64),
});
export type SegmentSummary = z.infer<typeof segmentSummary>;
const candidate = z.object({
  candidate: z.string().max(2048),
  sdpMid: z.string().max(64).nullable(),
  sdpMLineIndex: z.number().int().min(0).max(64).nullable(),
});

/** Why a write failed: ENOSPC / EDQUOT, EIO. */
const writeFailureReason = z.enum(['disk-full', 'io-error']);
export type WriteFailureReason = z.infer<typeof writeFailureReason>;
/** A place in the global log: the event at this 1-based sequence, with its id (the read API checks both). */
const logPosition = z.object({ seq: z.number().int().positive(), eventId: z.string().min(1).max(64) });
/** One webhook message: the source event it was made from, and its place among that event's messages. */
const webhookMessage = z.object({
  /** The `webhook-id` header: the same on every attempt (derived from the source event id and the endpoint). */
  messageId: z.string().min(1).max(64),
  /** The webhook type (room.started, composition.completed, …). */
  type: z.string().min(1).max(64),
  source: logPosition.extend({
    index: z.number().int().nonnegative(),
    /** The source event's last message: once settled, the cursor moves past the event. */
    last: z.boolean(),
  }),
});

/**
 * `<kind>.action.failed`: an action a transition of this stream named failed
 * (an effect handler threw, an emitted or timer event could not be dispatched).
 * Reported by the runtime (src/runtime/effects.ts) on the stream whose event
 * named it, with that event as its cause; the other actions of the transition
 * ran regardless. The machines keep their state; replay lists it as a problem.
 */
const actionFailed = z.object({
  /** The effect's name (openRecorderPeer, closeRecorderPeer, enqueueComposition, emit, scheduleTimer, …). */
  action: z.string().min(1).max(64),
  error: z.string().max(2000),
  /** What it was about, where the name does not say: an emit's target, a timer's key. */
  detail: z.string().max(300).optional(),
  /** The runtime tries it again (enqueueComposition); reported on the first failure only. */
  retrying: z.boolean(),
});

export const eventSchemas = {
  // ---- room:<roomId> ----
  /** The room decides the role: the first member of an absent or closed room opens it as host. */
  'room.member.joined': z.object({
    participantId: idSchema,
    name: z.string().max(200).nullable(),
    /** The token's `sub` (access control on): who the member is, beyond a display name. */
    userId: userId.optional(),
    /** The name is the token's (access control on): host-userInfo does not override it. */
    nameFromToken: z.boolean().optional(),
    /** The process holding the member's socket and its recorder peer (any node; the room's `nodeId` is its host's). */
    nodeId: z.string().max(128),
  }),
  /** node-lost: the member's node stopped renewing its lease; another node wrote this for it (src/runtime/leases.ts). */
  'room.member.left': z.object({
    participantId: idSchema,
    reason: z.enum(['left', 'socket-closed', 'timed-out', 'server-restart', 'node-lost']),
  }),
  /** server-restart / node-lost: the host's process died (restarted, or its lease lapsed); the recording is interrupted. */
  'room.closed': z.object({ reason: z.enum(['host-left', 'server-restart', 'node-lost']) }),
  /** A start was asked for; the room accepts it only when open and not already recording. */
  'room.recording.requested': z.object({
    recordingId: idSchema,
    layout: layoutSchema,
    format: formatSchema,
  }),
  'room.recording.ended': z.object({ recordingId: idSchema }),

  // ---- member identity: the field's host-userInfo (issue 16) ----
  /** A member said who they are (host-userInfo): user id, name, avatar, other fields as given. */
  'room.member.identified': z.object({ participantId: idSchema, userInfo: userInfoSchema }),
  /** The room passed a member's (new) identity on to its active recording: the member as it now is. */
  'recording.participant.identified': z.object({ member }),

  // ---- recording:<recordingId> ----
  'recording.started': z.object({
    recordingId: idSchema,
    roomId: idSchema,
    layout: layoutSchema,
    format: formatSchema,
    startedAt: z.number().int().nonnegative(),
    members: z.array(member),
  }),
  'recording.participant.joined': z.object({ member }),
  'recording.participant.left': z.object({ participantId: idSchema }),
  'recording.stop.requested': z.object({
    /** disk-low: the free space fell below MIN_FREE_DISK_MB (src/health/disk-guard.ts). */
    reason: z.enum(['api', 'host-left', 'interrupted', 'limit-reached', 'disk-low']),
    compose: z.boolean(),
    /** Id of the composition job the stop starts (ids come from outside machines). */
    compositionJobId: idSchema,
    /**
     * When the recording really ended, if not at this event's time: an
     * interrupted recording ends when its media was last written, not when a
     * restarted server noticed.
     */
    stoppedAt: z.number().int().nonnegative().optional(),
  }),
  'recording.peer.closed': z.object({
    participantId: idSchema,
    outcome: z.enum(['closed', 'failed', 'no-media', 'no-offer']),
    segments: z.array(segmentSummary),
  }),
  'recording.segment.recorded': z.object({ participantId: idSchema, segment: segmentSummary }),
  /**
   * A recorder could not write a track file (disk full, I/O error): the file
   * keeps what was written, and the recording stops (reason disk-full /
   * io-error) and is composed from it.
   */
  'recording.write.failed': z.object({
    participantId: idSchema,
    file: z.string().max(255),
    reason: writeFailureReason,
    error: z.string().max(2000),
  }),
  /**
   * The live composition (LIVE_COMPOSE, src/composer/live) finished a window: the
   * recording is composed up to composedUpToMs of its time, lagMs behind real time.
   * From the worker composing it (any node can show it, the log keeps how it went).
   */
  'recording.live.progressed': z.object({
    composedUpToMs: z.number().int().nonnegative(),
    lagMs: z.number().int().nonnegative(),
    chunks: z.number().int().nonnegative(),
    workerId: z.string().max(128),
  }),
  /** Timer: peers did not all report closed in time; stop anyway. */
  'recording.stop.timed-out': z.object({}),
  'recording.failed': z.object({ error: z.string().max(4000) }),

  // ---- peer:<recordingId>.<participantId> ----
  'peer.requested': z.object({
    recordingId: idSchema,
    roomId: idSchema,
    participantId: idSchema,
    role,
    name: z.string().max(200).nullable(),
    /** Who they are across rejoins (absent when unknown, and in events logged before it was carried). */
    userId: userId.optional(),
    layout: layoutSchema,
    format: formatSchema,
    startedAt: z.number().int().nonnegative(),
    /** Segments already used by earlier peers of this participant (numbering continues). */
    segmentBase: z.number().int().nonnegative(),
  }),
  /** host-userInfo arrived (or changed) while the peer exists: its sidecars carry the new name and userId. */
  'peer.identified': z.object({ name: z.string().max(200).nullable(), userId: userId.optional() }),
  'peer.offer.received': z.object({ sdp }),
  'peer.candidate.received': candidate,
  'peer.answered': z.object({ offerNumber: z.number().int().positive(), sdp }),
  'peer.candidate.gathered': z.object({ offerNumber: z.number().int().positive() }).extend(candidate.shape),
  'peer.status.reported': z.object({ status: z.string().max(64) }),
  'peer.offer.failed': z.object({
    offerNumber: z.number().int().positive(),
    /** The protocol's recording-status for it. */
    status: z.enum(['invalid-offer', 'offer-failed']),
    error: z.string().max(2000),
  }),
  'peer.connected': z.object({ offerNumber: z.number().int().positive() }),
  'peer.track.received': z.object({
    offerNumber: z.number().int().positive(),
    kind: z.enum(['audio', 'video']),
    codec: z.string().max(64),
    trackId: z.string().max(128),
  }),
  'peer.media.started': z.object({ offerNumber: z.number().int().positive(), kind: z.enum(['audio', 'video']) }),
  'peer.media.stats': z.object({
    offerNumber: z.number().int().positive(),
    packets: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
    lost: z.number().int().nonnegative(),
    /** The same, split by kind (metrics); absent in logs written before it was added. */
    byKind: z
      .object({
        audio: z.object({ packets: z.number().int().nonnegative(), bytes: z.number().int().nonnegative(), lost: z.number().int().nonnegative() }).optional(),
        video: z.object({ packets: z.number().int().nonnegative(), bytes: z.number().int().nonnegative(), lost: z.number().int().nonnegative() }).optional(),
      })
      .optional(),
  }),
  'peer.media.stalled': z.object({ offerNumber: z.number().int().positive(), kind: z.enum(['audio', 'video']) }),
  'peer.media.resumed': z.object({ offerNumber: z.number().int().positive(), kind: z.enum(['audio', 'video']) }),
  'peer.segment.finalized': z.object({ offerNumber: z.number().int().positive(), segment: segmentSummary }),
  'peer.failed': z.object({ offerNumber: z.number().int().nonnegative(), error: z.string().max(2000) }),
  /** Timer: no offer arrived after the request. */
  'peer.offer.timed-out': z.object({}),
  /** Timer (machines/peer.ts MEDIA_TIMEOUT_MS): connected but no media arrived. */
  'peer.media.timed-out': z.object({}),
  'peer.close.requested': z.object({ reason: z.string().max(64) }),
  'peer.closed': z.object({ reason: z.string().max(64), segments: z.array(segmentSummary) }),

  // ---- composition:<jobId> ----
  'composition.requested': z.object({
    jobId: idSchema,
    recordingId: idSchema,
    meetingId: idSchema,
    layout: layoutSchema,
    format: formatSchema,
    durationMs: z.number().int().nonnegative(),
    maxAttempts: z.number().int().positive().max(20),
  }),
  'composition.started': z.object({
    attempt: z.number().int().positive(),
    workerId: z.string().max(128),
    /** JetStream delivery count (1 embedded): a higher one takes over a lost worker's run. */
    delivery: z.number().int().positive(),
  }),
  'composition.progressed': z.object({
    attempt: z.number().int().positive(),
    percent: z.number().min(0).max(100),
    speed: z.number().nonnegative().nullable(),
  }),
  'composition.completed': z.object({
    attempt: z.number().int().positive(),
    output: z.object({
      file: z.string().max(255),
      durationMs: z.number().nonnegative(),
      sizeBytes: z.number().int().nonnegative(),
    }),
    skipped: z.array(z.object({ file: z.string().max(255), reason: z.string().max(500) })),
  }),
  'composition.failed': z.object({
    attempt: z.number().int().positive(),
    error: z.string().max(4000),
    stderr: z.array(z.string().max(1000)).max(40),
    /** disk-full: the output could not be written for want of space; the retry waits longer and does not count. */
    reason: z.enum(['disk-full']).optional(),
  }),
  /** Timer: backoff elapsed, queue the next attempt. */
  'composition.retry.due': z.object({}),
  'composition.retry.requested': z.object({}),
  /** The run was lost (process restart, worker died): queue it again. */
  'composition.requeued': z.object({ reason: z.string().max(200) }),
  /** Timer: a run took longer than allowed. */
  'composition.timed-out': z.object({ attempt: z.number().int().positive() }),

  // ---- upload:<jobId> (the object-storage upload of one composition's files) ----
  /** A composition completed and a bucket is configured: its files are to be uploaded. */
  'upload.requested': z.object({
    jobId: idSchema,
    recordingId: idSchema,
    meetingId: idSchema,
    bucket: z.string().min(1).max(255),
    files: z
      .array(z.object({ file: z.string().min(1).max(255), key: z.string().min(1).max(1024), sizeBytes: z.number().int().nonnegative() }))
      .min(1)
      .max(500),
    /** Backoff of the automatic retries (from the configuration when it was asked for). */
    retry: z.object({ maxAttempts: z.number().int().positive().max(1000), baseMs: z.number().int().positive(), maxMs: z.number().int().positive() }),
  }),
  /** An uploader claimed attempt n (the machine refuses a second claim of the same attempt). */
  'upload.started': z.object({ attempt: z.number().int().positive(), workerId: z.string().max(128) }),
  /** Every file is in the bucket and verified (size and ETag read back with HeadObject). */
  'upload.completed': z.object({
    attempt: z.number().int().positive(),
    objects: z.array(z.object({ key: z.string().min(1).max(1024), sizeBytes: z.number().int().nonnegative(), etag: z.string().max(200) })).max(500),
    /** Local files deleted after the verified upload (DELETE_LOCAL_AFTER_UPLOAD=1). */
    deleteLocal: z.boolean(),
  }),
  /** The attempt failed; nothing local was deleted. */
  'upload.failed': z.object({
    attempt: z.number().int().positive(),
    error: z.string().max(4000),
    /** The object the attempt was at, if any. */
    key: z.string().max(1024).nullable(),
  }),
  /** Timer: the backoff after a failed attempt elapsed. */
  'upload.retry.due': z.object({}),
  /** The attempt was lost (process restart): run it again. */
  'upload.requeued': z.object({ reason: z.string().max(200) }),
  // ---- webhook:<endpointId> (src/integrations/webhooks: one stream per endpoint, its delivery cursor) ----
  /** Deliveries to this endpoint start after `from` (null: from the log's first event). */
  'webhook.endpoint.added': z.object({ target: z.string().max(500), from: logPosition.nullable() }),
  /** NATS mode: this node delivers to the endpoint until `until` (ms since epoch); the others wait. */
  'webhook.lease.taken': z.object({ nodeId: z.string().max(128), until: z.number().int().nonnegative() }),
  /** The endpoint answered 2xx: the cursor moves past the message. */
  'webhook.delivered': webhookMessage.extend({
    attempt: z.number().int().positive(),
    status: z.number().int().min(100).max(599),
    ms: z.number().nonnegative(),
    nodeId: z.string().max(128),
  }),
  /** No 2xx (an error status, a timeout, a refused connection): the message is tried again after `retryInMs`. */
  'webhook.attempt.failed': webhookMessage.extend({
    attempt: z.number().int().positive(),
    status: z.number().int().min(100).max(599).nullable(),
    error: z.string().max(1000),
    retryInMs: z.number().int().nonnegative(),
    nodeId: z.string().max(128),
  }),
  /** Retried for longer than WEBHOOK_MAX_RETRY_HOURS: given up, the cursor moves past it. */
  'webhook.abandoned': webhookMessage.extend({ attempts: z.number().int().positive(), error: z.string().max(1000) }),

  // ---- <kind>.action.failed, on every kind whose machine names actions (see actionFailed above) ----
  'room.action.failed': actionFailed,
  'recording.action.failed': actionFailed,
  'peer.action.failed': actionFailed,
  'composition.action.failed': actionFailed,
  'upload.action.failed': actionFailed,
} as const;

export type EventType = keyof typeof eventSchemas;
export type EventData<T extends EventType> = z.infer<(typeof eventSchemas)[T]>;

/** A domain event as machines see it: the envelope with typed data. */
export type DomainEvent = {
  [T in EventType]: {
    type: T;
    id: string;
    stream: string;
    position: number;
    time: number;
    causationId: string | null;
    correlationId: string | null;
    version: number;
    data: EventData<T>;
  };
}[EventType];
export type EventOf<T extends EventType> = Extract<DomainEvent, { type: T }>;

export function isEventType(t: string): t is EventType {
  return Object.prototype.hasOwnProperty.call(eventSchemas, t);
}

/** Parses an event's data against its schema; throws a readable error. */
export function parseEventData<T extends EventType>(type: T, data: unknown): EventData<T> {
  const r = eventSchemas[type].safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`${type}: ${issue?.path.join('.') || 'data'}: ${issue?.message ?? 'invalid'}`);
  }
  return r.data as EventData<T>;
}
