import { afterEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { Participant } from '../helpers/participant.js';
import { poll, sleep } from '../helpers/wait.js';

/** AUTO_RECORD=1: a room is recorded from the moment its host joins, with real werift peers. */
describe('AUTO_RECORD', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });

  it('records every room from its host joining, with the configured layout and format; a stop is not undone', async () => {
    const app: TestApp = await startTestApp({ AUTO_RECORD: '1', AUTO_RECORD_LAYOUT: 'host-led', AUTO_RECORD_FORMAT: 'mp4' });
    cleanups.push(() => app.cleanup());
    const host = await Participant.join(app.url, 'auto-room', { name: 'Host' });
    cleanups.push(() => host.close());
    // the host is asked for its media right after its connect reply: nobody pressed Record
    const started = await host.client.next('recording-started', () => true, 5_000);
    expect(started).toMatchObject({ connectionId: 'auto-room', status: 'recording', layout: 'host-led', format: 'mp4' });
    await host.client.next('recording-peer-request', () => true, 5_000);
    const guest = await Participant.join(app.url, 'auto-room', { name: 'Guest' });
    cleanups.push(() => guest.close());
    await guest.client.next('recording-peer-request', (m) => m.recordingId === started.recordingId, 5_000);
    const list = await app.http.get('/api/recording-sessions?connectionId=auto-room');
    expect(list.json.sessions).toHaveLength(1);
    expect(list.json.sessions[0]).toMatchObject({ id: started.recordingId, status: 'recording', layout: 'host-led', format: 'mp4' });
    // media really arrives
    await poll(
      () => app.http.get(`/api/recording-sessions/${started.recordingId}`),
      (r) => r.json.session.participants.filter((p: any) => p.active).length === 2,
    );
    await sleep(1_500);
    const stop = await app.http.delete(`/api/recording-sessions/${started.recordingId}?compose=false`);
    expect(stop.status).toBe(200);
    expect(stop.json.session.segments.length).toBeGreaterThanOrEqual(2);
    // a further join does not start another recording: only the host opening the room does
    const late = await Participant.join(app.url, 'auto-room', { name: 'Late' });
    cleanups.push(() => late.close());
    await sleep(500);
    expect((await app.http.get('/api/recording-sessions?connectionId=auto-room')).json.sessions).toHaveLength(1);
    // the host leaving and opening the room again: a new recording
    await late.leave();
    await guest.leave();
    await host.leave();
    const again = await Participant.join(app.url, 'auto-room', { name: 'Host' });
    cleanups.push(() => again.close());
    const second = await again.client.next('recording-started', () => true, 5_000);
    expect(second.recordingId).not.toBe(started.recordingId);
  }, 60_000);

  it('off by default: a host joining records nothing', async () => {
    const app = await startTestApp();
    cleanups.push(() => app.cleanup());
    const host = await Participant.join(app.url, 'plain-room');
    cleanups.push(() => host.close());
    await sleep(500);
    expect(host.client.received.some((m) => m?.type === 'recording-started')).toBe(false);
    expect((await app.http.get('/api/recording-sessions')).json.totalCount).toBe(0);
  });
});
