import { z } from 'zod';
import { FORMATS, LAYOUTS, MAX_SDP_LENGTH, userInfoSchema } from './catalog.js';
import { idSchema } from './ids.js';

/**
 * Schemas of the wire contract, events/protocol.md (the contract itself, kept
 * beside these schemas): signaling (section 1), recording messages (section 2)
 * and the HTTP request bodies (section 3).
 * Client messages are parsed here; unknown extra fields are dropped (or, in
 * relayed `data`, passed through), never refused. Server messages are typed
 * (and have schemas so tests can check what the server sends).
 */

/**
 * A room (meeting) id as clients send it in `connectionId`. It names a folder
 * under the recordings root, so it may not begin with `.`: no `.`, `..` or
 * hidden folder such as the event log's `.eventlog`.
 */
export const connectionIdSchema = idSchema.refine((v) => !v.startsWith('.'), { message: 'must not begin with "."' });

const wireId = idSchema;
const sdpMid = z.string().max(64).nullable().optional();
const sdpMLineIndex = z.number().int().min(0).max(64).nullable().optional();
const routing = { from: z.string().max(256).optional(), to: z.string().max(256).optional() };

// ---- client → server: room signaling (section 1) ----

export const connectMessageSchema = z.object({
  type: z.literal('connect'),
  connectionId: connectionIdSchema,
  /** Extra field: the member's display name. */
  name: z.string().max(100).optional(),
  ...routing,
});
export const disconnectMessageSchema = z.object({ type: z.literal('disconnect'), connectionId: connectionIdSchema, ...routing });

/** Meeting media is relayed as is: extra fields inside `data` travel along. */
const relayData = <S extends z.ZodRawShape>(shape: S) => z.looseObject({ connectionId: connectionIdSchema, ...shape });
export const offerMessageSchema = z.object({ type: z.literal('offer'), data: relayData({ sdp: z.string() }), ...routing });
export const answerMessageSchema = z.object({ type: z.literal('answer'), data: relayData({ sdp: z.string() }), ...routing });
export const candidateMessageSchema = z.object({
  type: z.literal('candidate'),
  data: relayData({ candidate: z.string(), sdpMLineIndex, sdpMid }),
  ...routing,
});

// ---- client → server: the field's other types (section 1) ----

/** JSON size of a value, in UTF-16 units (a bound, not an exact byte count). */
const jsonSize = (v: unknown) => JSON.stringify(v ?? null).length;
/** invite-call / on-message are relayed, not stored: bounded well under the frame limit. */
export const MAX_RELAYED_DATA_JSON = 64 * 1024;

export const hostUserInfoMessageSchema = z.object({ type: z.literal('host-userInfo'), data: userInfoSchema, ...routing });

/** Relayed unchanged: `data` is whatever the client sent (any JSON value), within a size bound. */
const relayedData = z.unknown().refine((v) => jsonSize(v) <= MAX_RELAYED_DATA_JSON, {
  message: `must be at most ${MAX_RELAYED_DATA_JSON} characters of JSON`,
});
export const inviteCallMessageSchema = z.object({ type: z.literal('invite-call'), data: relayedData, ...routing });
export const onMessageMessageSchema = z.object({ type: z.literal('on-message'), data: relayedData, ...routing });

// ---- client → server: recording (section 2), payload under `data` ----

const recordingRef = { recordingId: wireId, connectionId: connectionIdSchema, participantId: z.string().max(256).optional() };
export const recordingOfferMessageSchema = z.object({
  type: z.literal('recording-offer'),
  data: z.object({ ...recordingRef, sdp: z.string().min(1).max(MAX_SDP_LENGTH) }),
  ...routing,
});
export const recordingCandidateMessageSchema = z.object({
  type: z.literal('recording-candidate'),
  data: z.object({ ...recordingRef, candidate: z.string().max(2048), sdpMid, sdpMLineIndex }),
  ...routing,
});
export const recordingStatusMessageSchema = z.object({
  type: z.literal('recording-status'),
  data: z.object({ ...recordingRef, status: z.string().min(1).max(64) }),
  ...routing,
});

export const clientMessageSchemas = {
  connect: connectMessageSchema,
  disconnect: disconnectMessageSchema,
  offer: offerMessageSchema,
  answer: answerMessageSchema,
  candidate: candidateMessageSchema,
  'host-userInfo': hostUserInfoMessageSchema,
  'invite-call': inviteCallMessageSchema,
  'on-message': onMessageMessageSchema,
  'recording-offer': recordingOfferMessageSchema,
  'recording-candidate': recordingCandidateMessageSchema,
  'recording-status': recordingStatusMessageSchema,
} as const;
export type ClientMessageType = keyof typeof clientMessageSchemas;
export type ClientMessage = { [T in ClientMessageType]: z.infer<(typeof clientMessageSchemas)[T]> }[ClientMessageType];
export type ClientMessageOf<T extends ClientMessageType> = Extract<ClientMessage, { type: T }>;

/**
 * `ignored`: a type the server does not know, dropped without a reply (the
 * field's server did the same); `error` names it for the log.
 */
export type ParseResult = { ok: true; message: ClientMessage } | { ok: false; error: string; ignored?: true };

function firstIssue(type: string, error: z.ZodError): string {
  const issue = error.issues[0];
  return `${type}: ${issue?.path.join('.') || 'message'}: ${issue?.message ?? 'invalid'}`;
}

/** Parses one decoded JSON value from a client; every failure is a readable sentence. */
export function parseClientMessage(value: unknown): ParseResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, error: 'a message must be a JSON object' };
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string') return { ok: false, error: 'a message needs a string "type"' };
  if (!Object.prototype.hasOwnProperty.call(clientMessageSchemas, type)) {
    return { ok: false, ignored: true, error: `unknown message type ${JSON.stringify(type.slice(0, 64))}` };
  }
  const r = clientMessageSchemas[type as ClientMessageType].safeParse(value);
  return r.success ? { ok: true, message: r.data as ClientMessage } : { ok: false, error: firstIssue(type, r.error) };
}

// ---- server → client (sections 1 and 2; recording messages are FLAT) ----

const role = z.enum(['host', 'participant']);
const iso = z.string();
/** `from` is the room id (protocol); `fromParticipantId` is an extra field naming the sender. */
const relayed = <T extends 'offer' | 'answer' | 'candidate'>(type: T) =>
  z.object({
    type: z.literal(type),
    from: z.string(),
    to: z.literal(''),
    fromParticipantId: z.string().optional(),
    data: z.looseObject({ datetime: z.number() }),
  });
/** invite-call / on-message: `data` exactly as the sender gave it. */
const relayedAsIs = <T extends 'invite-call' | 'on-message'>(type: T) =>
  z.object({ type: z.literal(type), from: z.string(), to: z.literal(''), fromParticipantId: z.string().optional(), data: z.unknown() });


const recordingStarted = z.object({
  type: z.literal('recording-started'),
  connectionId: z.string(),
  recordingId: z.string(),
  status: z.literal('recording'),
  layout: z.string(),
  format: z.string(),
  startedAt: iso,
});

export const serverMessageSchemas = {
  connect: z.object({ type: z.literal('connect'), connectionId: z.string(), polite: z.boolean(), role, participantId: z.string() }),
  disconnect: z.object({ type: z.literal('disconnect'), connectionId: z.string(), reason: z.string().optional() }),
  'participant-left': z.object({ type: z.literal('participant-left'), connectionId: z.string(), participantId: z.string() }),
  offer: relayed('offer'),
  answer: relayed('answer'),
  candidate: relayed('candidate'),
  'invite-call': relayedAsIs('invite-call'),
  'on-message': relayedAsIs('on-message'),
  error: z.object({ type: z.literal('error'), message: z.string() }),
  /** Extra type (allowed by the protocol): the room's members, sent to every member on each change. */
  members: z.object({
    type: z.literal('members'),
    connectionId: z.string(),
    members: z.array(
      z.object({ participantId: z.string(), role, name: z.string().nullable(), avatar: z.string().optional() }),
    ),
  }),
  'recording-started': recordingStarted,
  // protocol.md: "the same fields plus mediaMode"
  'recording-peer-request': recordingStarted.extend({
    type: z.literal('recording-peer-request'),
    mediaMode: z.literal('webrtc-sendonly'),
    participantId: z.string().optional(),
  }),
  'recording-stopped': z.object({
    type: z.literal('recording-stopped'),
    connectionId: z.string(),
    recordingId: z.string(),
    status: z.literal('stopped'),
    layout: z.string(),
    format: z.string(),
    startedAt: iso,
    stoppedAt: iso,
    /** Extra field: set when the session failed rather than being stopped. */
    error: z.string().optional(),
  }),
  'recording-answer': z.object({
    type: z.literal('recording-answer'),
    recordingId: z.string(),
    connectionId: z.string(),
    participantId: z.string(),
    sdp: z.string(),
  }),
  'recording-candidate': z.object({
    type: z.literal('recording-candidate'),
    recordingId: z.string(),
    connectionId: z.string(),
    participantId: z.string(),
    candidate: z.string(),
    sdpMid: z.string().nullable(),
    sdpMLineIndex: z.number().nullable(),
  }),
  'recording-status': z.object({
    type: z.literal('recording-status'),
    recordingId: z.string(),
    connectionId: z.string(),
    status: z.string(),
    participantId: z.string().optional(),
    message: z.string().optional(),
  }),
} as const;
export type ServerMessageType = keyof typeof serverMessageSchemas;
export type ServerMessage = { [T in ServerMessageType]: z.infer<(typeof serverMessageSchemas)[T]> }[ServerMessageType];
export type ServerMessageOf<T extends ServerMessageType> = Extract<ServerMessage, { type: T }>;

/** Statuses the server reports in `recording-status` (clients may send others). */
export const RECORDING_STATUSES = ['invalid-offer', 'recorder-unavailable', 'offer-failed', 'offer-received', 'candidate-rejected'] as const;

// ---- HTTP request bodies (section 3) ----

const layout = z.enum(LAYOUTS, { error: `must be one of ${LAYOUTS.join(', ')}` });
const format = z.enum(FORMATS, { error: `must be one of ${FORMATS.join(', ')}` });

export const startRecordingBodySchema = z.object({
  connectionId: connectionIdSchema,
  layout: layout.default('grid'),
  format: format.default('webm'),
});
export type StartRecordingBody = z.infer<typeof startRecordingBodySchema>;

export const composeBodySchema = z.object({
  meetingId: connectionIdSchema,
  recordingId: wireId,
  layout: layout.optional(),
  format: format.optional(),
});
export type ComposeBody = z.infer<typeof composeBodySchema>;

/** Parses an HTTP body; the error names the first offending field. */
export function parseBody<S extends z.ZodType>(schema: S, value: unknown): { ok: true; body: z.infer<S> } | { ok: false; error: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, error: 'the body must be a JSON object' };
  const r = schema.safeParse(value);
  if (r.success) return { ok: true, body: r.data };
  const issue = r.error.issues[0];
  const field = issue?.path.join('.');
  const message =
    issue?.code === 'invalid_type' && issue.input === undefined ? 'is required' : (issue?.message ?? 'is invalid');
  return { ok: false, error: field ? `${field}: ${message}` : message };
}
