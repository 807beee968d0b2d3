/**
 * Per-request cost of access control: verifying a token (jose, HS256),
 * signing and checking a file link (HMAC-SHA256), the origin check, and the
 * whole authenticate step of an HTTP request (header/cookie parse + verify).
 *
 *   npm run bench:auth -- [--seconds 2]
 */
import type { IncomingMessage } from 'node:http';
import { parseArgs } from 'node:util';
import { createAccessControl, createTokens, createUrlSigner, tokenOf } from '../src/auth/index.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' } } });
const seconds = Number(values.seconds);
const SECRET = 'bench-secret-0123456789abcdef-0123456789';

async function bench(name: string, fn: () => unknown): Promise<void> {
  // warm-up, then as many runs as fit in the window
  for (let i = 0; i < 2000; i++) await fn();
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 200; i++) await fn();
    n += 200;
    now = process.hrtime.bigint();
  }
  const ns = Number(now - start) / n;
  console.log(`${name.padEnd(46)} ${(ns / 1000).toFixed(2).padStart(8)} µs/op  ${Math.round(1e9 / ns).toLocaleString('en').padStart(10)} ops/s`);
}

async function main() {
  const tokens = createTokens(SECRET);
  const token = await tokens.sign({ sub: 'user-1', name: 'Alice', room: 'room-1', role: 'host' }, 3600);
  const forged = await createTokens('another-secret-0123456789abcdef-01234').sign({ sub: 'x', room: 'room-1', role: 'host' }, 3600);
  const signer = createUrlSigner(SECRET, 3600);
  const path = '/api/recordings/room-1/1700000000000-0b9f4a8e-1111-4c3e-9a55-2f7d3c1e8b20-composed.webm/stream';
  const link = signer.sign(path);
  const [p, q] = link.split('?');
  const access = createAccessControl({ secret: SECRET, allowedOrigins: ['https://meet.example.com'] });
  const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
  const withHeader = req({ authorization: `Bearer ${token}` });
  const withCookie = req({ cookie: `theme=dark; recorder_token=${token}; other=1` });

  console.log(`node ${process.version}, ${seconds} s per case\n`);
  await bench('token verify (jose HS256, valid)', () => tokens.verify(token));
  await bench('token verify (forged signature)', () => tokens.verify(forged));
  await bench('token sign', () => tokens.sign({ sub: 'user-1', room: 'room-1', role: 'host' }, 3600));
  await bench('authenticate: Authorization header + verify', () => access.verify(tokenOf(withHeader)?.token));
  await bench('authenticate: cookie + verify', () => access.verify(tokenOf(withCookie)?.token));
  await bench('file link sign (HMAC-SHA256)', () => signer.sign(path));
  await bench('file link check (valid)', () => signer.check(p, new URLSearchParams(q)));
  await bench('origin check (listed)', () => access.origins.allowed('https://meet.example.com', '127.0.0.1:8080'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
