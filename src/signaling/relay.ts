import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { z } from 'zod';
import { serverMessageSchemas, type ServerMessage } from '../../events/wire.js';
import { roomStream } from '../../machines/actions.js';
import { encodeToken } from '../log/subject.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Connection, Connections } from './connections.js';

/** What crosses between nodes: one relayed message of a room, for its members on the receiving node. */
export interface RelayEnvelope {
  roomId: string;
  fromNode: string;
  /** The sender: it never gets its own message back. */
  fromParticipantId: string;
  /** One member (`to` of the client message), or null: every other member. */
  to: string | null;
  message: ServerMessage;
}

/** How relayed messages reach the other nodes (NATS core subjects; the relay is not the log). */
export interface RelayBus {
  publish(envelope: RelayEnvelope): void;
  subscribe(handler: (envelope: RelayEnvelope) => void): () => void;
  close(): Promise<void>;
}

const envelopeSchema = z.object({
  roomId: z.string().min(1).max(256),
  fromNode: z.string().min(1).max(128),
  fromParticipantId: z.string().min(1).max(128),
  to: z.string().max(128).nullable(),
  message: z.looseObject({ type: z.string() }),
});

/** Subjects of room relays: beside the event log's `<prefix>.>`, never inside it. */
export const relaySubject = (prefix: string, roomId: string) => `${prefix}_relay.${encodeToken(roomId)}`;

/**
 * Relays over NATS core: one subject per room (`<prefix>_relay.<room>`), one
 * wildcard subscription per node. At most once, like the sockets themselves.
 */
export function createNatsRelayBus({ nc, subjectPrefix, logger }: { nc: NatsConnection; subjectPrefix: string; logger: Logger }): RelayBus {
  const log = logger.child({ module: 'signaling/relay' });
  const subs = new Set<Subscription>();
  return {
    publish(envelope) {
      try {
        nc.publish(relaySubject(subjectPrefix, envelope.roomId), JSON.stringify(envelope));
      } catch (err) {
        log.warn({ roomId: envelope.roomId, err: (err as Error).message }, 'relay publish failed');
      }
    },
    subscribe(handler) {
      const sub = nc.subscribe(`${subjectPrefix}_relay.>`, {
        callback: (err, msg) => {
          if (err) return log.warn({ err: err.message }, 'relay subscription error');
          let value: unknown;
          try {
            value = JSON.parse(msg.string());
          } catch {
            return log.warn({ subject: msg.subject }, 'unreadable relay message dropped');
          }
          const p = envelopeSchema.safeParse(value);
          if (!p.success) return log.warn({ subject: msg.subject }, 'malformed relay message dropped');
          const type = p.data.message.type as keyof typeof serverMessageSchemas;
          if (!(type in serverMessageSchemas) || !serverMessageSchemas[type].safeParse(p.data.message).success) {
            return log.warn({ subject: msg.subject, messageType: type }, 'relay message of an unknown shape dropped');
          }
          handler(p.data as RelayEnvelope);
        },
      });
      subs.add(sub);
      return () => {
        subs.delete(sub);
        sub.unsubscribe();
      };
    },
    async close() {
      for (const s of subs) s.unsubscribe();
      subs.clear();
    },
  };
}

export interface RelayOptions {
  runtime: Runtime;
  connections: Connections;
  nodeId: string;
  /** Absent: one process, every member's socket is here. */
  bus?: RelayBus;
}

/**
 * Delivers a relayed message to the other members of a room: this node's
 * sockets directly, members on other nodes over the bus (they hand it to
 * their own sockets). Membership is the room's, folded from the log on every node.
 */
export function createRelay({ runtime, connections, nodeId, bus }: RelayOptions) {
  const membersOf = (roomId: string): Record<string, { nodeId?: string }> => runtime.get(roomStream(roomId))?.context.members ?? {};

  function deliverHere(roomId: string, fromParticipantId: string, to: string | null, message: ServerMessage): Connection[] {
    const targets = connections.inRoom(roomId).filter((c) => c.participantId !== fromParticipantId && (to === null || c.participantId === to));
    // A recipient that is not keeping up loses relays, not its socket.
    return targets.filter((c) => !connections.send(c, message, { relayed: true }));
  }

  const off = bus?.subscribe((e) => {
    if (e.fromNode === nodeId) return;
    deliverHere(e.roomId, e.fromParticipantId, e.to, e.message);
  });

  return {
    /** A member of the room (a socket here, or any node's member in the log). */
    hasMember(roomId: string, participantId: string): boolean {
      return !!membersOf(roomId)[participantId] || connections.inRoom(roomId).some((c) => c.participantId === participantId);
    },
    /** Sends to the room's other members (or the one named); returns the local sockets that were too far behind to take it. */
    deliver(from: Connection, to: string | null, message: ServerMessage): Connection[] {
      const roomId = from.roomId!;
      const fromParticipantId = from.participantId!;
      const behind = deliverHere(roomId, fromParticipantId, to, message);
      if (bus) {
        const local = new Set(connections.inRoom(roomId).map((c) => c.participantId));
        // A named member not here is looked for on the other nodes; a broadcast goes out when the room has members elsewhere.
        const elsewhere =
          to !== null
            ? !local.has(to)
            : Object.entries(membersOf(roomId)).some(([id, m]) => id !== fromParticipantId && !local.has(id) && m.nodeId !== nodeId);
        if (elsewhere) bus.publish({ roomId, fromNode: nodeId, fromParticipantId, to, message });
      }
      return behind;
    },
    close() {
      off?.();
    },
  };
}
export type Relay = ReturnType<typeof createRelay>;
