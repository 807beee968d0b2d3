import { jetstream, jetstreamManager, type JetStreamManager, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { encodeToken } from '../log/subject.js';

/** Who takes over a lost node: exactly one of the nodes that try, per lost node and hold period. */
export interface TakeoverClaims {
  /** true: this node won the takeover of `lostNodeId`; false: another node holds a claim younger than the hold period. */
  claim(lostNodeId: string): Promise<boolean>;
}

/** JetStream answers this when a stream is created twice at once. */
const STREAM_NAME_IN_USE = 10058;

/**
 * Takeover claims on a small JetStream stream (`<eventStream>_TAKEOVER`,
 * subjects `<prefix>_takeover.<lost node>`, one message per subject). A
 * claim reads the lost node's last claim: younger than `holdMs` (by the
 * server's timestamp), someone has it; otherwise it publishes its own,
 * expecting that last claim's sequence, so of two nodes that try at once
 * JetStream stores one and refuses the other. Every node computing "the
 * lowest live id takes over" agrees only while their views of who is alive
 * agree; the claim makes the takeover single even when they do not.
 */
export function createNatsTakeoverClaims(o: {
  nc: NatsConnection;
  eventStream: string;
  subjectPrefix: string;
  nodeId: string;
  /** A claim holds for this long (NODE_TIMEOUT_MS): a lost node still referenced after it is claimed again. */
  holdMs: number;
  logger: Logger;
  clock?: () => number;
}): TakeoverClaims {
  const name = `${o.eventStream}_TAKEOVER`;
  const subjects = `${o.subjectPrefix}_takeover.>`;
  let jsm!: JetStreamManager;
  const js = jetstream(o.nc);
  const clock = o.clock ?? Date.now;
  const log = o.logger.child({ module: 'takeover-claims', nodeId: o.nodeId });
  /** Made on the first claim: a cluster that never loses a node never has the stream. */
  let ready: Promise<void> | null = null;
  const ensure = async () => {
    jsm = await jetstreamManager(o.nc);
    try {
      await jsm.streams.info(name);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
      try {
        await jsm.streams.add({
          name,
          subjects: [subjects],
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
          max_msgs_per_subject: 1,
          // Claims are only read within their hold period; a day keeps the stream small.
          max_age: 24 * 3600 * 1e9,
        });
      } catch (e) {
        if (!(e instanceof JetStreamApiError && e.code === STREAM_NAME_IN_USE)) throw e;
      }
    }
  };

  return {
    async claim(lostNodeId) {
      await (ready ??= ensure().catch((err) => {
        ready = null;
        throw err;
      }));
      const subject = `${o.subjectPrefix}_takeover.${encodeToken(lostNodeId)}`;
      let lastSeq = 0;
      try {
        const m = await jsm.streams.getMessage(name, { last_by_subj: subject });
        if (m) {
          lastSeq = m.seq;
          const ageMs = clock() - Date.parse(m.timestamp);
          if (ageMs < o.holdMs) {
            log.info({ lostNode: lostNodeId, claimedBy: safeBy(m.string()), ageMs }, 'takeover already claimed');
            return false;
          }
        }
      } catch (err) {
        if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound)) throw err;
      }
      try {
        await js.publish(subject, JSON.stringify({ by: o.nodeId, at: clock() }), { expect: { lastSubjectSequence: lastSeq } });
        return true;
      } catch (err) {
        if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence) {
          log.info({ lostNode: lostNodeId }, 'another node claimed the takeover first');
          return false;
        }
        throw err;
      }
    },
  };
}

function safeBy(text: string): string | null {
  try {
    const by = (JSON.parse(text) as { by?: unknown }).by;
    return typeof by === 'string' ? by : null;
  } catch {
    return null;
  }
}
