import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../src/http/openapi.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { Participant } from '../helpers/participant.js';
import { poll, sleep } from '../helpers/wait.js';

/**
 * GET /api/openapi.json against the server itself, with real ids from one
 * real recording: every documented route answers (and its JSON answers parse
 * with the schemas the document was generated from), and every route the
 * server answers is documented.
 */
describe('GET /api/openapi.json', () => {
  let app: TestApp;
  let host: Participant;
  let doc: any;
  const room = 'api-doc-room';
  const ids: Record<string, string> = { meetingId: room, asset: 'recorder-client.js' };
  const METHODS = ['GET', 'POST', 'DELETE', 'PUT', 'PATCH'];

  beforeAll(async () => {
    app = await startTestApp();
    host = await Participant.join(app.url, room, { name: 'Host' });
    const start = await app.http.post('/api/recording-sessions', { connectionId: room });
    ids.recordingId = start.json.session.id;
    await sleep(1_500);
    const stop = await app.http.delete(`/api/recording-sessions/${ids.recordingId}`);
    ids.jobId = stop.json.compositionJob.id;
    const done = await poll(() => app.http.get(`/api/recording-compositions/${ids.jobId}`), (r) => r.json.job.status === 'completed', {
      timeoutMs: 60_000,
      stepMs: 200,
    });
    ids.filename = done.json.job.output.filename;
    doc = (await app.http.get('/api/openapi.json')).json;
  }, 90_000);
  afterAll(async () => {
    await host?.close();
    await app?.cleanup();
  });

  const fill = (template: string) => template.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(ids[name]!));
  const bodies: Record<string, unknown> = {
    '/api/recording-sessions': { connectionId: room },
    '/api/recording-compositions': { meetingId: room, recordingId: '' },
  };

  it('is an OpenAPI 3.1 document whose every $ref resolves', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).length).toBeGreaterThanOrEqual(9);
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of new Set(refs)) {
      const name = ref.slice('"$ref":"#/components/schemas/'.length, -1);
      expect(doc.components.schemas[name], ref).toBeDefined();
    }
    // request bodies come from the very schemas the handlers parse with
    const body = doc.paths['/api/recording-sessions'].post.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(['connectionId']);
    expect(body.properties.layout.enum).toEqual(['grid', 'host-led', 'host-only', 'speaker']);
  });

  it('every documented route answers (not 404/405) with a documented status, and its JSON parses with the documented schema', async () => {
    bodies['/api/recording-compositions'] = { meetingId: room, recordingId: ids.recordingId };
    // DELETE last: it stops the recording the POST starts
    const order = (m: string) => (m === 'delete' ? 1 : 0);
    const ops = Object.entries(doc.paths as Record<string, Record<string, any>>)
      .flatMap(([path, methods]) => Object.keys(methods).map((method) => ({ path, method })))
      .sort((a, b) => order(a.method) - order(b.method));
    expect(ops.length).toBe(ROUTES.length);
    for (const { path, method } of ops) {
      const url = fill(path);
      // an event stream never ends: its answer is its status and headers
      const stream = Object.values(doc.paths[path][method].responses).some((r: any) => r.content?.['text/event-stream']);
      const res =
        method === 'post'
          ? await app.http.post(url, bodies[path])
          : stream
            ? await app.http.request('HEAD', url)
            : await app.http.request(method.toUpperCase(), url);
      const what = `${method.toUpperCase()} ${path} → ${res.status} ${res.text.slice(0, 200)}`;
      expect([404, 405], what).not.toContain(res.status);
      expect(Object.keys(doc.paths[path][method].responses), what).toContain(String(res.status));
      const route = ROUTES.find((r) => r.path === path && r.method === method)!;
      const schema = route.responses[res.status]?.schema;
      if (schema) {
        const parsed = schema.safeParse(res.json);
        expect(parsed.success, `${what}: ${parsed.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`).toBe(true);
      }
      if (path === '/api/recording-sessions' && method === 'post') ids.recordingId = res.json.session?.id ?? ids.recordingId;
    }
  }, 30_000);

  it('every route the server answers is documented (each resource the router knows, every method, every path shape)', async () => {
    const router = await readFile(new URL('../../src/http/index.ts', import.meta.url), 'utf8');
    const resources = new Set([...router.matchAll(/resource === '([^']+)'/g)].map((m) => m[1]!));
    expect(resources.size).toBeGreaterThanOrEqual(4);
    const templates = Object.keys(doc.paths).map((t) => ({ t, re: new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+').replace(/\./g, '\\.')}$`) }));
    const candidates = new Set(['/', '/recorder-client.js', '/api', '/api/', '/api/nothing-here']);
    for (const r of resources) {
      for (const id of [ids.recordingId, ids.jobId, room, 'x']) {
        candidates.add(`/api/${r}`);
        candidates.add(`/api/${r}/${id}`);
        candidates.add(`/api/${r}/${id}/more`);
        for (const last of ['stream', 'download', 'other']) candidates.add(`/api/${r}/${room}/${ids.filename}/${last}`);
      }
    }
    const undocumented: string[] = [];
    for (const path of candidates) {
      for (const method of METHODS) {
        // probes with a body get one that fails validation: a route that exists answers 400, not 404/405
        const bare = method === 'GET' || method === 'DELETE';
        const res = await app.http.request(method, path, bare ? {} : { body: '{}', headers: { 'content-type': 'application/json' } });
        if (res.status === 404 || res.status === 405) continue;
        const t = templates.find((x) => x.re.test(path));
        if (!t || !doc.paths[t.t][method.toLowerCase()]) undocumented.push(`${method} ${path} → ${res.status}`);
      }
    }
    expect(undocumented).toEqual([]);
  }, 60_000);

  it('with access control on, the document names the token schemes', async () => {
    const secured = await startTestApp({ AUTH_SECRET: 'x'.repeat(40) });
    try {
      const d = (await secured.http.get('/api/openapi.json')).json;
      expect(Object.keys(d.components.securitySchemes)).toEqual(['bearer', 'cookie']);
      expect(d.paths['/api/recording-sessions'].post.responses['401']).toBeDefined();
    } finally {
      await secured.cleanup();
    }
  });
});
