import { parseStream } from '../../events/streams.js';

/**
 * NATS subjects split on '.', and '*', '>' and whitespace are wildcards or
 * separators, so an id becomes one subject token by percent-encoding every
 * character outside [A-Za-z0-9_-] (UTF-8 bytes, '%XX'). '%' itself is encoded,
 * which keeps the mapping reversible.
 */
export function encodeToken(id: string): string {
  if (id.length === 0) throw new Error('cannot encode an empty subject token');
  return id.replace(/[^A-Za-z0-9_-]/gu, (ch) =>
    Array.from(Buffer.from(ch, 'utf8'), (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

export function decodeToken(token: string): string {
  return decodeURIComponent(token);
}

/** `<prefix>.<kind>.<encoded id>` for a stream named `<kind>:<id>`. */
export function subjectOf(prefix: string, stream: string): string {
  const { kind, id } = parseStream(stream);
  if (!/^[a-z]+$/.test(kind)) throw new Error(`stream ${stream}: kind must be lower-case letters`);
  return `${prefix}.${kind}.${encodeToken(id)}`;
}

/** Inverse of subjectOf; null when the subject is not `<prefix>.<kind>.<token>`. */
export function streamOfSubject(prefix: string, subject: string): string | null {
  if (!subject.startsWith(`${prefix}.`)) return null;
  const rest = subject.slice(prefix.length + 1).split('.');
  if (rest.length !== 2) return null;
  return `${rest[0]}:${decodeToken(rest[1])}`;
}
