import { z } from 'zod';
import { ID_CHARS } from './ids.js';

/**
 * Stream ids: every event belongs to one aggregate (a room, a recording
 * session, a recorder peer, a composition job, the upload of a job's files, a webhook endpoint), named `<kind>:<id>`. This
 * module is the only place that builds or parses them.
 */
export const STREAM_KINDS = ['room', 'recording', 'peer', 'composition', 'upload', 'webhook'] as const;
export type StreamKind = (typeof STREAM_KINDS)[number];
export type StreamId<K extends StreamKind = StreamKind> = `${K}:${string}`;

export const STREAM_PATTERN = new RegExp(`^(${STREAM_KINDS.join('|')}):[${ID_CHARS}]+$`);
export const STREAM_MAX_LENGTH = 300;

export const isStreamId = (v: unknown): v is StreamId =>
  typeof v === 'string' && v.length <= STREAM_MAX_LENGTH && STREAM_PATTERN.test(v);

export const streamSchema = z
  .string()
  .max(STREAM_MAX_LENGTH)
  .regex(STREAM_PATTERN, `stream must be <${STREAM_KINDS.join('|')}>:<id>`);

export function streamOf<K extends StreamKind>(kind: K, id: string): StreamId<K> {
  return `${kind}:${id}`;
}

export function parseStream(stream: string): { kind: StreamKind; id: string } {
  const i = stream.indexOf(':');
  return { kind: stream.slice(0, i) as StreamKind, id: stream.slice(i + 1) };
}

export const kindOf = (stream: string): StreamKind => parseStream(stream).kind;

export const roomStream = (roomId: string) => streamOf('room', roomId);
export const recordingStream = (recordingId: string) => streamOf('recording', recordingId);
/** A recorder peer is one participant's within one recording. */
export const peerStream = (recordingId: string, participantId: string) => streamOf('peer', `${recordingId}.${participantId}`);
export const compositionStream = (jobId: string) => streamOf('composition', jobId);
/** The upload of a composition job's files: one per job, named by the job. */
export const uploadStream = (jobId: string) => streamOf('upload', jobId);
/** One webhook endpoint's deliveries (its id is a hash of its URL). */
export const webhookStream = (endpointId: string) => streamOf('webhook', endpointId);

/** The recording a peer stream belongs to (the part before the first dot of its id). */
export function recordingOfPeerStream(stream: string): string | null {
  const { kind, id } = parseStream(stream);
  if (kind !== 'peer') return null;
  const dot = id.indexOf('.');
  return dot > 0 ? id.slice(0, dot) : id;
}
