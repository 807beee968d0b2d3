import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccessControl } from '../../../src/auth/index.js';
import { createHttpApi } from '../../../src/http/index.js';
import { httpClient, type HttpClient } from '../../helpers/http.js';

describe('GET /healthz and /readyz with access control on', () => {
  let server: Server;
  let http: HttpClient;
  let ready = { ready: true, reasons: [] as string[] };
  beforeAll(async () => {
    const api = createHttpApi({
      runtime: {} as never,
      root: '/nonexistent',
      logger: pino({ level: 'silent' }),
      newId: () => 'x',
      publicDir: '/nonexistent',
      access: createAccessControl({ secret: 's'.repeat(32) }),
      readiness: async () => ready,
    });
    server = createServer(api);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    http = httpClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('need no token and reveal only the verdict', async () => {
    expect(await http.get('/healthz')).toMatchObject({ status: 200, json: { ok: true } });
    expect(await http.get('/readyz')).toMatchObject({ status: 200, json: { ok: true, reasons: [] } });
    ready = { ready: false, reasons: ['disk: /rec: 1.0 MB free, below MIN_FREE_DISK_MB (500.0 MB)'] };
    expect(await http.get('/readyz')).toMatchObject({ status: 503, json: { ok: false, reasons: ready.reasons } });
    // the API itself still wants one
    expect((await http.get('/api/recording-sessions')).status).toBe(401);
    expect((await http.request('POST', '/healthz')).status).toBe(405);
  });
});
