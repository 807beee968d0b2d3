import { z } from 'zod';
import { envelopeSchema, type NewEvent, type StoredEvent } from '../../events/envelope.js';

/** Raised by append when an event fails the envelope schema; nothing is written. */
export class InvalidEventError extends Error {
  constructor(
    readonly stream: string,
    readonly eventId: string | undefined,
    readonly problem: string,
  ) {
    super(`stream ${stream}: event ${eventId ?? '(no id)'} refused: ${problem}`);
    this.name = 'InvalidEventError';
  }
}

const newEventSchema = envelopeSchema.omit({ position: true });

/** Parses what a writer hands to append; throws InvalidEventError on the first bad event. */
export function parseNewEvents(stream: string, events: readonly NewEvent[]): NewEvent[] {
  return events.map((raw) => {
    const id = typeof raw?.id === 'string' ? raw.id : undefined;
    const r = newEventSchema.safeParse(raw);
    if (!r.success) throw new InvalidEventError(stream, id, z.prettifyError(r.error).replace(/\n/g, '; '));
    if (r.data.stream !== stream) {
      throw new InvalidEventError(stream, id, `event belongs to stream ${r.data.stream}, appended to ${stream}`);
    }
    return r.data;
  });
}

/** The stored form, keys in envelope order. */
export function toStored(e: NewEvent, position: number): StoredEvent {
  return {
    id: e.id,
    type: e.type,
    stream: e.stream,
    position,
    time: e.time,
    causationId: e.causationId,
    correlationId: e.correlationId,
    version: e.version,
    data: e.data,
  };
}

/** JSON text of a stored event; refuses data JSON cannot carry (BigInt, cycles). */
export function serialize(e: StoredEvent): string {
  try {
    return JSON.stringify(e);
  } catch (err) {
    throw new InvalidEventError(e.stream, e.id, `data is not JSON-serializable: ${(err as Error).message}`);
  }
}

export type Parsed = { ok: true; event: StoredEvent } | { ok: false; problem: string };

/** Parses one stored line or message (the read edge). */
export function parseStored(text: string): Parsed {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, problem: `not JSON (${(err as Error).message})` };
  }
  const r = envelopeSchema.safeParse(json);
  if (!r.success) return { ok: false, problem: z.prettifyError(r.error).replace(/\n/g, '; ') };
  return { ok: true, event: r.data };
}
