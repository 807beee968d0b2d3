import { z } from 'zod';
import { FORMATS, LAYOUTS } from '../../events/catalog.js';
import { composeBodySchema, startRecordingBodySchema } from '../../events/wire.js';

/**
 * The HTTP API as data: every route with the zod schemas of its body and its
 * answers. GET /api/openapi.json is generated from this table (zod 4's JSON
 * Schema output), request bodies from the very schemas the handlers parse
 * with (events/wire.ts); test/integration/openapi.test.ts holds the server's
 * routes and answers to it, so the document cannot drift from the server.
 */

const iso = z.string().describe('ISO 8601 time');
const layout = z.enum(LAYOUTS);
const format = z.enum(FORMATS);

export const errorSchema = z.looseObject({ success: z.literal(false), message: z.string() }).meta({ id: 'Error' });

const member = z.looseObject({
  participantId: z.string(),
  role: z.enum(['host', 'participant']).nullable(),
  name: z.string().nullable(),
});
const segment = z.looseObject({
  participantId: z.string(),
  file: z.string(),
  kind: z.enum(['audio', 'video']),
  segmentIndex: z.number().int(),
  offsetMs: z.number(),
  durationMs: z.number().nullable(),
  codec: z.string(),
});

export const sessionSchema = z
  .looseObject({
    id: z.string(),
    connectionId: z.string().nullable(),
    status: z.enum(['recording', 'stopped', 'failed']),
    state: z.string().describe('the machine state, finer than status (stopping vs stopped)'),
    layout,
    format,
    createdAt: iso,
    startedAt: iso,
    updatedAt: iso,
    stoppedAt: iso.optional(),
    error: z.string().optional(),
    stopReason: z.string().nullable(),
    compose: z.boolean(),
    compositionJobId: z.string().nullable(),
    participants: z.array(member.extend({ active: z.boolean() })),
    segments: z.array(segment),
    liveComposition: z
      .object({
        state: z.string().describe('recording, finishing, done, failed, aborted'),
        composedUpToMs: z.number().describe('recording time composed so far ("composed up to 12:30")'),
        lagMs: z.number().describe('how far the composition is behind the recording in real time'),
        chunks: z.number().int(),
        workerId: z.string().optional().describe('who composes it, when the progress comes from the event log (another process)'),
        reportedAt: iso.optional(),
      })
      .optional()
      .describe('LIVE_COMPOSE: the composition made while recording'),
  })
  .meta({ id: 'RecordingSession' });

export const jobSchema = z
  .looseObject({
    id: z.string(),
    recordingId: z.string(),
    meetingId: z.string(),
    status: z.enum(['queued', 'running', 'completed', 'failed']),
    state: z.string(),
    layout,
    format,
    createdAt: iso,
    updatedAt: iso,
    inputFiles: z.array(z.string()),
    error: z.string().optional(),
    output: z
      .looseObject({
        meetingId: z.string(),
        filename: z.string(),
        downloadUrl: z.string(),
        streamUrl: z.string(),
        durationMs: z.number(),
        sizeBytes: z.number().int(),
      })
      .optional(),
    progress: z.number(),
    attempts: z.number().int(),
    maxAttempts: z.number().int(),
    workerId: z.string().nullable(),
    failures: z.array(z.object({ attempt: z.number().int(), error: z.string() })),
    skipped: z.array(z.object({ file: z.string(), reason: z.string() })),
  })
  .meta({ id: 'CompositionJob' });

const fileEntry = z.looseObject({
  filename: z.string(),
  contentType: z.string(),
  size: z.number().int(),
  modifiedAt: iso,
  downloadUrl: z.string(),
  streamUrl: z.string(),
  metadata: z.record(z.string(), z.unknown()).nullable(),
});
export const recordingSchema = z
  .looseObject({
    meetingId: z.string(),
    recordingId: z.string().nullable(),
    startedAt: iso.nullable(),
    durationMs: z.number().nullable(),
    size: z.number().int(),
    host: member.nullable(),
    participants: z.array(member),
    composed: z.array(fileEntry.extend({ format: z.string(), durationMs: z.number().nullable() })),
    tracks: z.array(
      fileEntry.extend({
        participantId: z.string(),
        role: z.enum(['host', 'participant']).nullable(),
        name: z.string().nullable(),
        kind: z.string().nullable(),
        codec: z.string().nullable(),
        durationMs: z.number().nullable(),
        offsetMs: z.number().nullable(),
        segmentIndex: z.number().nullable(),
      }),
    ),
  })
  .meta({ id: 'Recording' });

const span = { startMs: z.number(), endMs: z.number() };
const mark = z.looseObject({
  kind: z.enum(['no-media', 'no-offer', 'failed-peer', 'gap', 'composition-failed', 'recording-failed', 'interrupted', 'write-failed']),
  atMs: z.number(),
  endMs: z.number().nullable().optional(),
  title: z.string(),
  detail: z.array(z.string()),
  events: z
    .array(z.looseObject({ seq: z.number().int(), time: z.string(), stream: z.string(), type: z.string(), summary: z.string() }))
    .describe('the causation chain the replay report prints, oldest first, then the event itself'),
});
export const timelineSchema = z
  .looseObject({
    recordingId: z.string(),
    roomId: z.string().nullable(),
    state: z.string(),
    layout: z.string().nullable(),
    format: z.string().nullable(),
    startedAt: z.number().nullable().describe('ms since epoch; every other time is ms from it'),
    stoppedAt: z.number().nullable(),
    stopReason: z.string().nullable(),
    durationMs: z.number(),
    endMs: z.number().describe('the right edge: the recording and its compositions'),
    lanes: z.array(
      z.looseObject({
        participantId: z.string(),
        name: z.string().nullable(),
        role: z.enum(['host', 'participant']),
        presence: z.array(z.looseObject({ ...span, began: z.enum(['at-start', 'joined', 'rejoined']), leftReason: z.string().nullable() })),
        segments: z.array(z.looseObject({ ...span, kind: z.enum(['audio', 'video']), file: z.string(), segmentIndex: z.number().int(), codec: z.string(), open: z.boolean() })),
        cameraOff: z.array(z.looseObject(span)),
        speech: z.array(z.looseObject(span)).describe('from the audio-level files the recorder writes'),
        marks: z.array(mark),
        peer: z.looseObject({ state: z.string(), packets: z.number(), bytes: z.number(), lost: z.number() }).nullable(),
      }),
    ),
    compositions: z.array(
      z.looseObject({
        jobId: z.string(),
        layout: z.string(),
        format: z.string(),
        state: z.string(),
        output: z.string().nullable(),
        attempts: z.array(
          z.looseObject({
            ...span,
            jobId: z.string(),
            attempt: z.number().int(),
            outcome: z.enum(['running', 'completed', 'failed', 'timed-out', 'lost']),
            percent: z.number(),
            error: z.string().nullable(),
          }),
        ),
      }),
    ),
    marks: z.array(mark),
    live: z
      .array(z.object({ atMs: z.number(), composedUpToMs: z.number(), lagMs: z.number(), chunks: z.number().int(), workerId: z.string() }))
      .describe('LIVE_COMPOSE: the composition while recording, window by window (composed up to, lag behind real time)'),
    events: z.number().int(),
  })
  .meta({ id: 'RecordingTimeline' });

const ok = <S extends z.core.$ZodLooseShape>(shape: S) => z.looseObject({ success: z.literal(true), ...shape });

export interface Param {
  name: string;
  in: 'path' | 'query';
  description: string;
  schema?: z.ZodType;
}

export interface Route {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI path template (`{name}` for a path parameter). */
  path: string;
  summary: string;
  params?: Param[];
  body?: z.ZodType;
  /** JSON answers by status; a string is a non-JSON media type. */
  responses: Record<number, { description: string; schema?: z.ZodType; media?: string[] }>;
  /** Answers with a token only when access control is on. */
  secured?: boolean;
}

const recordingId: Param = { name: 'recordingId', in: 'path', description: 'a recording session id' };
const jobId: Param = { name: 'jobId', in: 'path', description: 'a composition job id' };
const meetingId: Param = { name: 'meetingId', in: 'path', description: 'the room (meeting) id' };
const filename: Param = { name: 'filename', in: 'path', description: 'a file in the meeting folder (.webm, .mp4, .json)' };
const err = (description: string) => ({ description, schema: errorSchema });
const media = ['video/webm', 'video/mp4', 'audio/webm', 'application/json'];

export const ROUTES: Route[] = [
  {
    method: 'get',
    path: '/',
    summary: 'The demo page (answers as soon as the server takes connections)',
    responses: { 200: { description: 'the page', media: ['text/html'] } },
  },
  {
    method: 'get',
    path: '/{asset}',
    summary: "The demo page's files (public/): its script, styles and the browser recorder client",
    params: [{ name: 'asset', in: 'path', description: 'a file of public/, e.g. recorder-client.js' }],
    responses: { 200: { description: 'the file', media: ['text/javascript', 'text/css', 'text/html'] }, 404: { description: 'no such file' } },
  },
  {
    method: 'get',
    path: '/console',
    summary: 'The operator console (public/console.html); with access control on it needs an operator token (`?token=` sets the cookie)',
    secured: true,
    responses: { 200: { description: 'the page', media: ['text/html'] }, 303: { description: 'from `?token=`: the cookie is set, on to /console' } },
  },
  {
    method: 'get',
    path: '/api/console/events',
    summary: "The console's live view as server-sent events: `event: state` with the same body as /api/console/state, at once and after every change",
    secured: true,
    responses: { 200: { description: 'an endless event stream', media: ['text/event-stream'] } },
  },
  {
    method: 'get',
    path: '/api/console/state',
    summary: "The console's live view now: open rooms and their members, running recordings with each recorder peer's state, bitrate and packets lost per track, composition jobs",
    secured: true,
    responses: { 200: { description: 'the live view', schema: ok({ now: z.number(), accessControl: z.boolean(), rooms: z.array(z.looseObject({ roomId: z.string() })), recordings: z.array(z.looseObject({ recordingId: z.string() })), compositions: z.array(z.looseObject({ jobId: z.string() })) }) } },
  },
  {
    method: 'get',
    path: '/api/openapi.json',
    summary: 'This document',
    responses: { 200: { description: 'OpenAPI 3.1', media: ['application/json'] } },
  },
  {
    method: 'post',
    path: '/api/recording-sessions',
    summary: 'Start recording a live room',
    body: startRecordingBodySchema,
    secured: true,
    responses: {
      201: { description: 'recording', schema: ok({ session: sessionSchema }) },
      400: err('no or a bad connectionId, layout or format'),
      404: err('no such live room'),
      409: { description: 'the room is already recording', schema: errorSchema.extend({ session: sessionSchema }) },
    },
  },
  {
    method: 'get',
    path: '/api/recording-sessions',
    summary: 'Recording sessions, newest first',
    params: [{ name: 'connectionId', in: 'query', description: 'only this room’s', schema: z.string() }],
    secured: true,
    responses: { 200: { description: 'the sessions', schema: ok({ sessions: z.array(sessionSchema), totalCount: z.number().int() }) } },
  },
  {
    method: 'get',
    path: '/api/recording-sessions/{recordingId}',
    summary: 'One recording session, with its composition job',
    params: [recordingId],
    secured: true,
    responses: {
      200: { description: 'the session', schema: ok({ session: sessionSchema, compositionJob: jobSchema.nullable() }) },
      404: err('unknown session'),
    },
  },
  {
    method: 'get',
    path: '/api/recording-sessions/{recordingId}/timeline',
    summary: "A recording's timeline: one lane per participant (presence, track segments, camera off, speech, problems with the events behind them) and its composition attempts",
    params: [recordingId],
    secured: true,
    responses: {
      200: { description: 'the timeline', schema: ok({ timeline: timelineSchema }) },
      400: err('a malformed recording id'),
      404: err('unknown session'),
    },
  },
  {
    method: 'delete',
    path: '/api/recording-sessions/{recordingId}',
    summary: 'Stop a recording (and compose it unless compose=false); stopping a stopped one answers it again',
    params: [recordingId, { name: 'compose', in: 'query', description: '`false`: keep the tracks, compose nothing', schema: z.enum(['true', 'false']) }],
    secured: true,
    responses: {
      200: { description: 'stopped', schema: ok({ session: sessionSchema, compositionJob: jobSchema.nullable() }) },
      404: err('unknown session'),
    },
  },
  {
    method: 'post',
    path: '/api/recording-compositions',
    summary: 'Compose (again) from the kept track files',
    body: composeBodySchema,
    secured: true,
    responses: {
      202: { description: 'queued', schema: ok({ job: jobSchema }) },
      400: err('a bad body'),
      404: err('no such recording in that meeting'),
      409: err('the recording is not stopped, or a composition of it is under way'),
    },
  },
  {
    method: 'get',
    path: '/api/recording-compositions',
    summary: 'Composition jobs, newest first',
    params: [{ name: 'meetingId', in: 'query', description: 'only this room’s', schema: z.string() }],
    secured: true,
    responses: { 200: { description: 'the jobs', schema: ok({ jobs: z.array(jobSchema), totalCount: z.number().int() }) } },
  },
  {
    method: 'get',
    path: '/api/recording-compositions/{jobId}',
    summary: 'One composition job',
    params: [jobId],
    secured: true,
    responses: { 200: { description: 'the job', schema: ok({ job: jobSchema }) }, 404: err('unknown job') },
  },
  {
    method: 'get',
    path: '/api/recordings',
    summary: 'The stored recordings with their metadata (host, participants, size, duration, files)',
    secured: true,
    responses: { 200: { description: 'the recordings', schema: ok({ recordings: z.array(recordingSchema), totalCount: z.number().int() }) } },
  },
  {
    method: 'get',
    path: '/api/recordings/{meetingId}/{filename}/stream',
    summary: 'A recording file for playing (honours Range)',
    params: [meetingId, filename],
    responses: {
      200: { description: 'the file', media },
      206: { description: 'the requested range', media },
      403: err('an unsigned, altered or expired link (access control on)'),
      404: err('no such file'),
      416: err('an unsatisfiable range'),
    },
  },
  {
    method: 'get',
    path: '/api/recordings/{meetingId}/{filename}/download',
    summary: 'A recording file as a download',
    params: [meetingId, filename],
    responses: {
      200: { description: 'the file', media },
      206: { description: 'the requested range', media },
      403: err('an unsigned, altered or expired link (access control on)'),
      404: err('no such file'),
    },
  },
];

/** JSON Schema (draft 2020-12, OpenAPI 3.1's dialect) of a zod schema; named schemas become components. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output', components: Record<string, unknown>) {
  const text = JSON.stringify(z.toJSONSchema(schema, { io, unrepresentable: 'any' }));
  const out = JSON.parse(text.replaceAll('"#/$defs/', '"#/components/schemas/')) as Record<string, any>;
  delete out.$schema;
  for (const [name, def] of Object.entries((out.$defs ?? {}) as Record<string, any>)) components[name] = def;
  delete out.$defs;
  return out;
}

/** The OpenAPI 3.1 document of ROUTES. */
export function openApiDocument(opts: { version?: string; accessControl?: boolean } = {}) {
  const components: Record<string, unknown> = {};
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const params = (r.params ?? []).map((p) => ({
      name: p.name,
      in: p.in,
      required: p.in === 'path',
      description: p.description,
      schema: p.schema ? jsonSchema(p.schema, 'input', components) : { type: 'string' },
    }));
    const responses = Object.fromEntries(
      Object.entries(r.responses).map(([status, x]) => [
        status,
        {
          description: x.description,
          ...(x.schema
            ? { content: { 'application/json': { schema: jsonSchema(x.schema, 'output', components) } } }
            : x.media
              ? { content: Object.fromEntries(x.media.map((m) => [m, {}])) }
              : {}),
        },
      ]),
    );
    if (r.secured && opts.accessControl) {
      responses[401] = { description: 'no, a bad or an expired token', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
      responses[403] = { description: 'the token may not do this', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    (paths[r.path] ??= {})[r.method] = {
      summary: r.summary,
      operationId: `${r.method}${r.path.replace(/\{([^}]+)\}/g, 'By-$1').replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      ...(params.length ? { parameters: params } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body, 'input', components) } } } } : {}),
      responses,
      ...(r.secured && opts.accessControl ? { security: [{ bearer: [] }, { cookie: [] }] } : {}),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'meeting-recorder',
      version: opts.version ?? '0',
      description: 'Server-side recording for WebRTC meetings: the HTTP API of events/protocol.md section 3.',
    },
    paths,
    components: {
      schemas: components,
      ...(opts.accessControl
        ? {
            securitySchemes: {
              bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
              cookie: { type: 'apiKey', in: 'cookie', name: 'recorder_token' },
            },
          }
        : {}),
    },
  };
}
