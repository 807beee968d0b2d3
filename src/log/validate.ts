import { z } from 'zod';
import { envelopeSchema, type NewEvent, type StoredEvent } from '../../events/envelope.js';
import { isStreamId } from '../../events/streams.js';

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
const describe = (error: z.ZodError) => z.prettifyError(error).replace(/\n/g, '; ');

/** Parses what a writer hands to append; throws InvalidEventError on the first bad event. */
export function parseNewEvents(stream: string, events: readonly NewEvent[]): NewEvent[] {
  return events.map((raw: unknown) => {
    let e: NewEvent;
    if (newFast.accepts(raw)) e = raw;
    else {
      const r = newEventSchema.safeParse(raw);
      if (!r.success) {
        const id = (raw as { id?: unknown } | null)?.id;
        throw new InvalidEventError(stream, typeof id === 'string' ? id : undefined, describe(r.error));
      }
      e = r.data;
    }
    if (e.stream !== stream) throw new InvalidEventError(stream, e.id, `event belongs to stream ${e.stream}, appended to ${stream}`);
    return e;
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
  if (storedFast.accepts(json)) return { ok: true, event: json };
  const r = envelopeSchema.safeParse(json);
  if (!r.success) return { ok: false, problem: describe(r.error) };
  return { ok: true, event: r.data };
}

const TYPE = /^[a-z]+(\.[a-z-]+)+$/;
/** Event types seen to pass TYPE: a few dozen in practice, so a set look-up replaces the regex per event. */
const knownTypes = new Set<string>();
function isNewType(type: string): boolean {
  if (!TYPE.test(type)) return false;
  if (knownTypes.size >= 4096) knownTypes.clear(); // bounded, whatever a log holds
  knownTypes.add(type);
  return true;
}
const isInt = (v: unknown, min: number) => Number.isSafeInteger(v) && (v as number) >= min;
const isText = (v: unknown, min: number, max: number) => typeof v === 'string' && v.length >= min && v.length <= max;
const isPlainObject = (v: unknown) => {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/**
 * Replay parses every event ever written and append every new one, and zod
 * costs more than JSON.parse there. This hand-compiled check accepts a strict
 * subset of the schema (exactly its keys, the same bounds); anything else goes
 * to zod, which has the final word. A sample of what it accepts is re-checked
 * by zod, so a schema change it does not know about turns it off rather than
 * letting bad events through. test/unit/log/validate.test.ts compares the two.
 */
function fastCheck<T>(schema: z.ZodObject, withPosition: boolean) {
  const keys = Object.keys(schema.shape);
  let accepted = 0;
  let sound = true;
  return {
    accepts(v: unknown): v is T {
      if (!sound || typeof v !== 'object' || v === null) return false;
      const o = v as Record<string, unknown>;
      // Object.keys is V8's fastest way to the key count; what we wrote ourselves has the keys in schema order.
      const own = Object.keys(o);
      if (own.length !== keys.length) return false;
      if (!keys.every((k, i) => own[i] === k) && !keys.every((k) => Object.hasOwn(o, k))) return false;
      const ok =
        isText(o.id, 1, 64) &&
        typeof o.type === 'string' &&
        (knownTypes.has(o.type) || isNewType(o.type)) &&
        isStreamId(o.stream) &&
        (!withPosition || isInt(o.position, 1)) &&
        isInt(o.time, 0) &&
        (o.causationId === null || isText(o.causationId, 0, 64)) &&
        (o.correlationId === null || isText(o.correlationId, 0, 128)) &&
        isInt(o.version, 1) &&
        isPlainObject(o.data);
      if (ok && (accepted++ & 1023) === 0 && !schema.safeParse(v).success) {
        sound = false; // the schema is stricter than this copy of it: zod alone from now on
        return false;
      }
      return ok;
    },
  };
}

const storedFast = fastCheck<StoredEvent>(envelopeSchema, true);
const newFast = fastCheck<NewEvent>(newEventSchema, false);

/** The fast checks alone, for the test that holds them to the schema. */
export const looksStored = (v: unknown): v is StoredEvent => storedFast.accepts(v);
export const looksNew = (v: unknown): v is NewEvent => newFast.accepts(v);
