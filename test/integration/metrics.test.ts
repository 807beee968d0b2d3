import { afterAll, describe, expect, it } from 'vitest';
import { createTokens } from '../../src/auth/tokens.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { TestClient } from '../helpers/ws-client.js';

const SECRET = 'metrics-test-secret-0123456789abcdef';
const METRICS_TOKEN = 'scrape-token-0123456789';
const apps: TestApp[] = [];
const sockets: TestClient[] = [];
afterAll(async () => {
  for (const s of sockets) s.terminate();
  for (const a of apps) await a.cleanup();
});

const value = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('GET /metrics', () => {
  it('Prometheus text: live rooms and members, state gauges with every state, event log latency, process metrics', async () => {
    const app = await startTestApp();
    apps.push(app);
    const wsUrl = app.url.replace(/^http/, 'ws');
    for (const name of ['a', 'b']) {
      const c = await TestClient.open(wsUrl);
      sockets.push(c);
      await c.join('metrics-room', name);
    }
    const r = await app.http.get('/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.text).toMatch(/^# TYPE mr_rooms_live gauge$/m);
    expect(value(r.text, 'mr_rooms_live')).toBe(1);
    expect(value(r.text, 'mr_room_members')).toBe(2);
    for (const state of ['starting', 'recording', 'stopping', 'stopped', 'failed']) expect(value(r.text, `mr_recordings{state="${state}"}`)).toBe(0);
    expect(value(r.text, 'mr_recorder_peers{state="flowing"}')).toBe(0);
    expect(value(r.text, 'mr_composition_jobs_running')).toBe(0);
    expect(value(r.text, 'mr_recorder_packets_received_total{kind="video"}')).toBe(0);
    expect(value(r.text, 'mr_uploads_total{outcome="failed"}')).toBe(0);
    // two joins: at least two appends timed
    expect(value(r.text, 'mr_eventlog_append_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(value(r.text, 'mr_eventlog_append_errors_total')).toBeUndefined(); // no error yet: no series
    expect(r.text).toMatch(/^process_cpu_seconds_total /m);
    expect(r.text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    // the webhook sender's counters, fed through the registry API
    app.metrics.webhook('delivered');
    app.metrics.webhookBacklog(() => 3);
    const after = await app.http.get('/metrics');
    expect(value(after.text, 'mr_webhook_deliveries_total{outcome="delivered"}')).toBe(1);
    expect(value(after.text, 'mr_webhook_backlog')).toBe(3);
  });

  it('with access control on: an operator token or METRICS_TOKEN, nothing else', async () => {
    const app = await startTestApp({ AUTH_SECRET: SECRET, METRICS_TOKEN });
    apps.push(app);
    const tokens = createTokens(SECRET);
    const operator = await tokens.sign({ sub: 'ops', room: '*', role: 'operator' }, 600);
    const host = await tokens.sign({ sub: 'h', room: 'r1', role: 'host' }, 600);
    expect((await app.http.get('/metrics')).status).toBe(401);
    expect((await app.http.get('/metrics', { authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    expect((await app.http.get('/metrics', { authorization: `Bearer ${host}` })).status).toBe(403);
    const byOperator = await app.http.get('/metrics', { authorization: `Bearer ${operator}` });
    expect(byOperator.status).toBe(200);
    expect(byOperator.text).toMatch(/^mr_rooms_live 0$/m);
    expect((await app.http.get('/metrics', { authorization: `Bearer ${METRICS_TOKEN}` })).status).toBe(200);
    expect((await app.http.request('POST', '/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(405);
  });
});
