import type { IncomingMessage, Server } from 'node:http';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { parseClientMessage } from '../../events/wire.js';
import type { Runtime } from '../runtime/runtime.js';
import { createConnections, type Connection, type LeaveReason } from './connections.js';
import { createInbound } from './inbound.js';
import { createAddressCounter, createFloodGuard, createOfferWindow, DEFAULT_LIMITS, type SignalingLimits } from './limits.js';
import { deliveriesFor } from './outbound.js';

/** Messages one socket may have queued or in progress before further ones are refused. */
const MAX_IN_FLIGHT = 256;

export interface SignalingOptions {
  runtime: Runtime;
  server: Server;
  logger: Logger;
  nodeId: string;
  newId: () => string;
  /** Frames above this get an `error` reply; frames above 4x this close the socket with 1009. */
  maxFrameBytes?: number;
  pingIntervalMs?: number;
  limits?: Partial<SignalingLimits>;
}

export interface Signaling {
  /** Stops pinging and listening, closes every socket (1001). Members are not reported as left: recovery closes their rooms. */
  close(): Promise<void>;
}

/**
 * The WebSocket adapter of protocol.md sections 1-2 on path `/` of the HTTP
 * server: client messages become events, events become server messages for
 * the sockets this process holds.
 */
export function createSignaling({
  runtime,
  server,
  logger,
  nodeId,
  newId,
  maxFrameBytes = 256 * 1024,
  pingIntervalMs = 15_000,
  limits: limitOverrides,
}: SignalingOptions): Signaling {
  const log = logger.child({ module: 'signaling' });
  const limits: SignalingLimits = { ...DEFAULT_LIMITS, ...limitOverrides };
  const connections = createConnections();
  const inbound = createInbound({ runtime, connections, nodeId, newId, limits });
  const perAddress = createAddressCounter(limits.socketsPerAddress);
  const addressOf = (req: IncomingMessage) => req.socket.remoteAddress ?? 'unknown';
  const wss = new WebSocketServer({
    server,
    path: '/',
    maxPayload: maxFrameBytes * 4,
    // Answered synchronously: the 'connection' that follows counts the socket before the next upgrade is checked.
    verifyClient: ({ req }, done) => {
      if (perAddress.admits(addressOf(req))) return done(true);
      log.warn({ address: addressOf(req), limit: limits.socketsPerAddress }, 'upgrade refused: too many sockets from one address');
      done(false, 429, `too many sockets from this address (at most ${limits.socketsPerAddress})`);
    },
  });
  let nextId = 1;
  let closing = false;

  const offEvent = runtime.onEvent((applied) => {
    for (const { to, message } of deliveriesFor(applied, runtime.get)) {
      for (const participantId of to) {
        const conn = connections.byParticipant(participantId);
        if (!conn) continue;
        connections.send(conn, message);
        // The room is gone for this socket; its id stays known so the recording-stopped that follows reaches it.
        if (message.type === 'disconnect' && conn.roomId === message.connectionId) connections.detach(conn, true);
      }
    }
  });

  function enqueue(conn: Connection, job: () => Promise<void>) {
    conn.inFlight++;
    conn.queue = conn.queue
      .then(job)
      .catch((err) => {
        conn.log.error({ err }, 'signaling handler failed');
        connections.send(conn, { type: 'error', message: 'internal error' });
      })
      .finally(() => conn.inFlight--);
  }

  function onMessage(conn: Connection, data: RawData, isBinary: boolean) {
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    const reject = (message: string) => {
      conn.log.debug({ size }, message);
      connections.send(conn, { type: 'error', message });
    };
    // Every frame costs a token, whatever it holds: relayed media and garbage alike.
    const verdict = conn.flood.check();
    if (verdict === 'close') {
      if (conn.ws.readyState !== WebSocket.OPEN) return; // closing already: what is still in flight is dropped
      conn.log.warn({ dropped: conn.flood.dropped }, 'still flooding after being throttled; closing the socket');
      conn.ws.close(1008, 'message rate limit exceeded');
      // A flooder need not take part in the close handshake.
      setTimeout(() => conn.ws.terminate(), 1000).unref();
      return;
    }
    if (verdict === 'throttled') {
      conn.log.info({ rate: limits.messagesPerSecond, burst: limits.messageBurst }, 'throttling a flooding socket');
      return reject(`rate limit: more than ${limits.messagesPerSecond} messages per second (burst ${limits.messageBurst}); messages are dropped until you slow down`);
    }
    if (verdict === 'dropped') return;
    if (isBinary) return reject('binary frames are not supported; send JSON text');
    if (size > maxFrameBytes) return reject(`frame of ${size} bytes exceeds the limit of ${maxFrameBytes}`);
    let value: unknown;
    try {
      value = JSON.parse(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as Buffer).toString('utf8'));
    } catch {
      return reject('malformed JSON');
    }
    const parsed = parseClientMessage(value);
    if (!parsed.ok) return reject(parsed.error);
    // Not a rate limit: a bound on the work one socket can queue ahead of the log.
    if (conn.inFlight >= MAX_IN_FLIGHT) return reject(`${parsed.message.type} dropped: ${MAX_IN_FLIGHT} messages are still being handled`);
    enqueue(conn, () => inbound.handle(conn, parsed.message));
  }

  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    if (closing) return ws.close(1001, 'server closing');
    const id = nextId++;
    const baseLog = log.child({ socket: id });
    const address = addressOf(req);
    perAddress.add(address);
    ws.once('close', () => perAddress.remove(address));
    const conn: Connection = {
      id,
      ws,
      address,
      flood: createFloodGuard(limits.messagesPerSecond, limits.messageBurst),
      offers: createOfferWindow(limits.reoffersPerMinute),
      roomId: null,
      participantId: null,
      outbox: null,
      alive: true,
      closeReason: null,
      queue: Promise.resolve(),
      inFlight: 0,
      baseLog,
      log: baseLog,
    };
    connections.all.add(conn);
    ws.on('pong', () => (conn.alive = true));
    ws.on('message', (data, isBinary) => {
      try {
        onMessage(conn, data, isBinary);
      } catch (err) {
        conn.log.error({ err }, 'message handling failed');
      }
    });
    ws.on('error', (err) => conn.log.info({ err: err.message }, 'socket error'));
    ws.on('close', (code) => {
      connections.all.delete(conn);
      if (closing) return connections.detach(conn);
      const reason: LeaveReason = conn.closeReason ?? 'socket-closed';
      conn.log.debug({ code, reason }, 'socket closed');
      enqueue(conn, async () => {
        await inbound.leave(conn, reason);
        connections.detach(conn);
      });
    });
  });
  wss.on('error', (err) => log.error({ err }, 'websocket server error'));

  const pinger = setInterval(() => {
    for (const conn of connections.all) {
      if (!conn.alive) {
        conn.log.info('no pong since the last ping; terminating');
        conn.closeReason = 'timed-out';
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      try {
        conn.ws.ping();
      } catch {
        /* a socket closing under us: the close handler takes it from here */
      }
    }
  }, pingIntervalMs);
  pinger.unref();

  return {
    async close() {
      if (closing) return;
      closing = true;
      clearInterval(pinger);
      offEvent();
      const closed = new Promise<void>((resolve) => wss.close(() => resolve()));
      for (const conn of connections.all) conn.ws.close(1001, 'server closing');
      // Give clients a moment for the close handshake, then cut whoever is left.
      const grace = setTimeout(() => {
        for (const conn of connections.all) conn.ws.terminate();
      }, 1000);
      await closed;
      clearTimeout(grace);
    },
  };
}
