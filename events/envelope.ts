import { z } from 'zod';
import { streamSchema } from './streams.js';

/**
 * Every event travels in one envelope. `stream` names the aggregate the event
 * belongs to (one per room, recording session, recorder peer, composition job)
 * as `<kind>:<id>` (streams.ts); `position` is the event's 1-based place in that stream.
 */
export const SCHEMA_VERSION = 1;

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
