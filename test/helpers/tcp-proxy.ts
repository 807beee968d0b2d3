import { createServer, connect, type AddressInfo, type Socket } from 'node:net';

export interface TcpProxy {
  /** http://127.0.0.1:port of the proxy. */
  url: string;
  /** Which backend (index) each accepted connection went to, in order. */
  readonly routed: number[];
  close(): Promise<void>;
}

/**
 * A plain round-robin TCP load balancer for tests: every new connection goes
 * to the next backend, whatever it carries (it cannot see the room id inside
 * the first WebSocket message, like a real L4 balancer). A backend that dies
 * takes its connections with it.
 */
export async function startTcpProxy(backends: (() => string)[]): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const routed: number[] = [];
  let next = 0;
  const server = createServer((client) => {
    const i = next++ % backends.length;
    routed.push(i);
    const { hostname, port } = new URL(backends[i]!());
    const upstream = connect({ host: hostname, port: Number(port) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', cut).on('close', cut);
    upstream.on('error', cut).on('close', cut);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    routed,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
