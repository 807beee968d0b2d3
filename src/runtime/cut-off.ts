import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';

/**
 * NATS mode: a node cut off from the cluster (its NATS connection down) for
 * NODE_TIMEOUT_MS has lost its lease: the other nodes took its members over
 * (they left, `node-lost`). Its sockets would stay open on a room that no
 * longer counts them, so it closes them (1012, "try again later"): the
 * clients reconnect through the load balancer, which `/readyz` (503 while
 * NATS is down) steers to a live node. Reconnecting in time cancels it.
 */
export function watchCutOff(o: {
  nc: NatsConnection;
  timeoutMs: number;
  /** Closes the sockets; returns how many. */
  drop: () => number;
  logger: Logger;
}): () => void {
  const log = o.logger.child({ module: 'cut-off' });
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const cancel = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  void (async () => {
    for await (const s of o.nc.status()) {
      if (stopped) break;
      if (s.type === 'disconnect' && !timer) {
        log.warn({ timeoutMs: o.timeoutMs }, 'cut off from NATS: the sockets are closed if it lasts the node timeout');
        timer = setTimeout(() => {
          timer = null;
          const n = o.drop();
          log.error({ sockets: n, timeoutMs: o.timeoutMs }, 'cut off from NATS for the node timeout: the other nodes took over its members; closed its sockets (clients reconnect elsewhere)');
        }, o.timeoutMs);
        timer.unref();
      } else if (s.type === 'reconnect') {
        if (timer) log.info('NATS is back within the node timeout: sockets kept');
        cancel();
      }
    }
  })().catch((err) => log.warn({ err }, 'NATS status feed ended'));
  return () => {
    stopped = true;
    cancel();
  };
}
