import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { parseClientMessage } from '../../events/wire.js';
import { createAccessControl, tokenOf, type AccessControl, type Principal } from '../auth/index.js';
import type { Runtime } from '../runtime/runtime.js';
import { createConnections, type Connection, type LeaveReason } from './connections.js';
import { createInbound } from './inbound.js';
import { createAddressCounter, createFloodGuard, createOfferWindow, DEFAULT_LIMITS, type SignalingLimits } from './limits.js';
import { deliveriesFor } from './outbound.js';
import { createRelay, type RelayBus } from './relay.js';

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
  /** Tokens and origin rules for upgrades (default: access control off, any origin). */
  access?: AccessControl;
  /** True once the process drains (SIGTERM): a `connect` to a new room gets `error`. */
  draining?: () => boolean;
  /** NATS mode: relayed messages reach members whose sockets are on other nodes. */
  relayBus?: RelayBus;
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
  access = createAccessControl(),
  draining,
  relayBus,
}: SignalingOptions): Signaling {
  const log = logger.child({ module: 'signaling' });
  const limits: SignalingLimits = { ...DEFAULT_LIMITS, ...limitOverrides };
  const connections = createConnections();
  /** Who each socket acts as; only set when access control is on. */
  const principals = new WeakMap<Connection, Principal>();
  const relay = createRelay({ runtime, connections, nodeId, bus: relayBus });
  const inbound = createInbound({
    runtime,
    connections,
    relay,
    nodeId,
    newId,
    limits,
    principalOf: access.enabled ? (conn) => principals.get(conn) ?? null : undefined,
    draining,
  });
  const perAddress = createAddressCounter(limits.socketsPerAddress);
  const addressOf = (req: IncomingMessage) => req.socket.remoteAddress ?? 'unknown';
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes * 4 });
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
    if (!parsed.ok && parsed.ignored) return void conn.log.debug({ size, why: parsed.error }, 'message ignored');
    if (!parsed.ok) return reject(parsed.error);
    // Not a rate limit: a bound on the work one socket can queue ahead of the log.
    if (conn.inFlight >= MAX_IN_FLIGHT) return reject(`${parsed.message.type} dropped: ${MAX_IN_FLIGHT} messages are still being handled`);
    enqueue(conn, () => inbound.handle(conn, parsed.message));
  }

  /** Refuses an upgrade with a plain HTTP answer: no socket is opened. */
  function refuse(socket: Duplex, status: number, message: string) {
    const body = JSON.stringify({ success: false, message });
    const reason = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 429: 'Too Many Requests', 503: 'Service Unavailable' }[status] ?? 'Error';
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  /**
   * The upgrade is where a socket proves who it is: with access control on,
   * a token (`?token=` or the cookie) or HTTP 401. A socket authenticated by
   * the cookie alone must come from an allowed origin (a cross-site page
   * would otherwise ride the user's cookie); a `?token=` is its own proof.
   */
  async function admit(req: IncomingMessage): Promise<{ ok: true; principal: Principal | null } | { ok: false; status: number; message: string }> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    if ((q === -1 ? url : url.slice(0, q)) !== '/') return { ok: false, status: 400, message: 'the signaling socket is at path /' };
    const origin = req.headers.origin;
    const allowedOrigin = origin === undefined || access.origins.allowed(origin, req.headers.host);
    if (!access.enabled) {
      if (access.origins.restricted && !allowedOrigin) return { ok: false, status: 403, message: `origin ${origin} is not allowed` };
      return { ok: true, principal: null };
    }
    const carried = tokenOf(req, new URLSearchParams(q === -1 ? '' : url.slice(q + 1)));
    const check = await access.verify(carried?.token);
    if (!check.ok) return { ok: false, status: 401, message: check.message };
    if (carried!.source === 'cookie' && !allowedOrigin) return { ok: false, status: 403, message: `origin ${origin} may not use the session cookie` };
    return { ok: true, principal: check.principal };
  }

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    // Counted from here, before the token check: concurrent upgrades from one address cannot overshoot.
    const address = addressOf(req);
    if (!perAddress.admits(address)) {
      log.warn({ address, limit: limits.socketsPerAddress }, 'upgrade refused: too many sockets from one address');
      return refuse(socket, 429, `too many sockets from this address (at most ${limits.socketsPerAddress})`);
    }
    perAddress.add(address);
    let counted = true;
    const release = () => {
      if (counted) perAddress.remove(address);
      counted = false;
    };
    admit(req)
      .then((a) => {
        if (closing) return (release(), refuse(socket, 503, 'server closing'));
        if (!a.ok) {
          log.info({ status: a.status, why: a.message, origin: req.headers.origin, address }, 'socket upgrade refused');
          release();
          return refuse(socket, a.status, a.message);
        }
        socket.once('close', release);
        wss.handleUpgrade(req, socket, head, (ws) => {
          ws.once('close', release);
          wss.emit('connection', ws, req, a.principal);
        });
      })
      .catch((err) => {
        log.error({ err }, 'socket upgrade failed');
        release();
        socket.destroy();
      });
  };
  server.on('upgrade', onUpgrade);

  wss.on('connection', (ws: WebSocket, req: IncomingMessage, principal: Principal | null) => {
    if (closing) return ws.close(1001, 'server closing');
    const id = nextId++;
    const baseLog = log.child({ socket: id, ...(principal ? { userId: principal.sub } : {}) });
    const address = addressOf(req);
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
    if (principal) principals.set(conn, principal);
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
      relay.close();
      server.off('upgrade', onUpgrade);
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
