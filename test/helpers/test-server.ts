import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { StoredEvent } from '../../events/envelope.js';
import { peerStream } from '../../machines/actions.js';
import { createHttpApi } from '../../src/http/index.js';
import { createEmbeddedLog } from '../../src/log/embedded.js';
import type { EventLog } from '../../src/log/types.js';
import { createRuntime, type EffectHandlers, type Runtime } from '../../src/runtime/runtime.js';
import { createSignaling } from '../../src/signaling/index.js';
import { removeDir, tempDir } from './tmp.js';

export const PUBLIC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../public');

/** What tests need from a running server; the full app (src/app.ts) can provide the same. */
export interface RunningServer {
  url: string;
  wsUrl: string;
  runtime: Runtime;
  /** The recordings root. */
  root: string;
  /** Every event applied since start, in order. */
  events: StoredEvent[];
  close(): Promise<void>;
}
export type ServerFactory = () => Promise<RunningServer>;

export interface TestServerOptions {
  effects?: EffectHandlers;
  pingIntervalMs?: number;
  maxFrameBytes?: number;
  stopWaitMs?: number;
}

/**
 * A stand-in recorder: closes peers at once (so stops finish quickly) and,
 * with `answer`, answers every offer with a fixed SDP and one candidate.
 */
export function fakeRecorderEffects({ answer = false } = {}): EffectHandlers {
  return {
    openRecorderPeer: async (p, { runtime }) => {
      if (!answer) return;
      const stream = peerStream(p.recordingId, p.participantId);
      await runtime.dispatch({ stream, type: 'peer.answered', data: { offerNumber: p.offerNumber, sdp: `fake-answer-${p.offerNumber}` } });
      await runtime.dispatch({
        stream,
        type: 'peer.candidate.gathered',
        data: { offerNumber: p.offerNumber, candidate: 'candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host', sdpMid: '0', sdpMLineIndex: 0 },
      });
    },
    closeRecorderPeer: async (p, { runtime }) => {
      await runtime.dispatch({ stream: peerStream(p.recordingId, p.participantId), type: 'peer.closed', data: { reason: p.reason, segments: [] } });
    },
  };
}

/** HTTP server + runtime over the embedded log + signaling + HTTP API on a free loopback port, no media. */
export async function startTestServer(opts: TestServerOptions = {}): Promise<RunningServer> {
  const root = await tempDir('mr-test-');
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
  const log: EventLog = await createEmbeddedLog({ file: path.join(root, '.eventlog', 'events.jsonl'), fsync: false });
  const runtime = createRuntime({ log, logger, effects: opts.effects ?? fakeRecorderEffects() });
  const events: StoredEvent[] = [];
  runtime.onEvent(({ event }) => events.push(event));
  const api = createHttpApi({ runtime, log, root, logger, newId: randomUUID, publicDir: PUBLIC_DIR, stopWaitMs: opts.stopWaitMs });
  const server = createServer(api);
  const signaling = createSignaling({
    runtime,
    server,
    logger,
    nodeId: 'test-node',
    newId: randomUUID,
    maxFrameBytes: opts.maxFrameBytes,
    pingIntervalMs: opts.pingIntervalMs,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/`,
    runtime,
    root,
    events,
    async close() {
      await signaling.close();
      api.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runtime.close();
      await log.close();
      await removeDir(root);
    },
  };
}
