import { z } from 'zod';

/**
 * Every event travels in one envelope. `stream` names the aggregate the event
 * belongs to (one per room, recording session, recorder peer, composition job)
 * as `<kind>:<id>`; `position` is the event's 1-based place in that stream.
 */
export const STREAM_KINDS = ['room', 'recording', 'peer', 'composition'] as const;
export type StreamKind = (typeof STREAM_KINDS)[number];

export const SCHEMA_VERSION = 1;

/** Ids that end up in stream names, NATS subjects and file names. */
export const idSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._-]+$/, 'only A-Z a-z 0-9 . _ - are allowed');

export const streamSchema = z
  .string()
  .max(300)
  .regex(/^(room|recording|peer|composition):[A-Za-z0-9._-]+$/, 'stream must be <room|recording|peer|composition>:<id>');

export const envelopeSchema = z.object({
  id: z.string().min(1).max(64),
  type: z.string().regex(/^[a-z]+(\.[a-z-]+)+$/, 'event type must be dot-case'),
  stream: streamSchema,
  position: z.number().int().positive(),
  time: z.number().int().nonnegative(), // ms since epoch, assigned by the runtime's clock
  causationId: z.string().max(64).nullable(),
  correlationId: z.string().max(128).nullable(),
  version: z.number().int().positive(),
  data: z.record(z.string(), z.unknown()),
});

/** An event as stored in the log: envelope with untyped data. */
export type StoredEvent = z.infer<typeof envelopeSchema>;

/** What a writer hands to the log: everything but the position, which the log assigns. */
export type NewEvent = Omit<StoredEvent, 'position'>;

export function streamOf(kind: StreamKind, id: string): string {
  return `${kind}:${id}`;
}

export function parseStream(stream: string): { kind: StreamKind; id: string } {
  const i = stream.indexOf(':');
  return { kind: stream.slice(0, i) as StreamKind, id: stream.slice(i + 1) };
}
