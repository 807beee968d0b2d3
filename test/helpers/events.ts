import { parseEventData, type EventType } from '../../events/catalog.js';
import type { NewEvent } from '../../events/envelope.js';
import { kindOf, type StreamKind } from '../../events/streams.js';

let clock = 1_700_000_000_000;
let n = 0;
/** Ids unique across runs: a shared nats-server drops a repeated id within its duplicate window. */
const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;

/** What a stream of each kind gets when a test does not care which event it is (the log's tests). */
const ANY: Record<StreamKind, { type: EventType; data: Record<string, unknown> }> = {
  room: { type: 'room.closed', data: { reason: 'host-left' } },
  recording: { type: 'recording.participant.left', data: { participantId: 'p' } },
  peer: { type: 'peer.status.reported', data: { status: 'checking' } },
  composition: { type: 'composition.retry.requested', data: {} },
  upload: { type: 'upload.retry.due', data: {} },
  webhook: { type: 'webhook.lease.taken', data: { nodeId: 'n1', until: 0 } },
};

/**
 * The one event builder of the tests: an event as a writer hands it to the
 * log, with a unique id and the next second of a fixed clock. The data is
 * parsed by its catalog schema, as at the edge; `envelope` is laid over the
 * result unchecked (a test of refusals can put anything there).
 *
 *   ev('room:r1', 'room.member.joined', { participantId: 'h', name: null, nodeId: 'n1' })
 *   ev('room:r1')                          any valid event of the stream's kind
 *   ev('room:r1', { correlationId: 'x' })  the same, with envelope fields set
 */
export function ev(stream: string, envelope?: Partial<NewEvent>): NewEvent;
export function ev(stream: string, type: EventType, data?: Record<string, unknown>, envelope?: Partial<NewEvent>): NewEvent;
export function ev(
  stream: string,
  typeOrEnvelope?: EventType | Partial<NewEvent>,
  data: Record<string, unknown> = {},
  envelope: Partial<NewEvent> = {},
): NewEvent {
  if (typeof typeOrEnvelope !== 'string') {
    const any = ANY[kindOf(stream)] ?? ANY.room; // a stream of no kind still gets an event (for the log to refuse)
    return ev(stream, any.type, any.data, typeOrEnvelope);
  }
  return {
    id: `e-${run}-${++n}`,
    type: typeOrEnvelope,
    stream,
    time: (clock += 1000),
    causationId: null,
    correlationId: null,
    version: 1,
    data: parseEventData(typeOrEnvelope, data) as Record<string, unknown>,
    ...envelope,
  };
}
