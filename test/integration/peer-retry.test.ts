import { afterEach, describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../events/envelope.js';
import { peerStream } from '../../events/streams.js';
import { PEER_RETRY_DELAYS_MS } from '../../machines/peer.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { waitForJob } from '../helpers/compositions.js';
import { Participant } from '../helpers/participant.js';
import { poll, sleep } from '../helpers/wait.js';

/**
 * A recorder peer whose DTLS handshake fails, for real: the participant's
 * first offer carries a certificate fingerprint that does not match its
 * certificate, so werift on the server refuses the handshake and the
 * connection fails (what a handshake lost on a loaded server or a network
 * blip looks like to the recorder). The server asks that participant for a
 * fresh peer; the participant's second offer is a sound one and its media is
 * recorded and composed. The other participant is never disturbed.
 */

/** The offer with one hex digit of its DTLS fingerprint changed. */
function wrongFingerprint(sdp: string): string {
  const m = /a=fingerprint:(\S+) ([0-9A-Fa-f:]+)/.exec(sdp);
  if (!m) throw new Error('offer without a fingerprint');
  const value = m[2]!;
  const flipped = (value[0] === 'A' ? 'B' : 'A') + value.slice(1);
  return sdp.split(m[0]).join(`a=fingerprint:${m[1]} ${flipped}`);
}

async function peerEvents(app: TestApp, recordingId: string, participantId: string): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for await (const { event } of app.log.read({ stream: peerStream(recordingId, participantId) })) out.push(event);
  return out;
}

describe('a recorder peer that fails is asked for again', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });

  it('a failed DTLS handshake: the participant is asked for a fresh peer, its media is recorded and composed; the other participant is untouched', async () => {
    const app = await startTestApp();
    cleanups.push(() => app.cleanup());
    const room = 'retry-room';
    const host = await Participant.join(app.url, room, { name: 'Host', mungeOffer: (sdp, n) => (n === 1 ? wrongFingerprint(sdp) : sdp) });
    const guest = await Participant.join(app.url, room, { name: 'Guest' });
    cleanups.push(() => host.close(), () => guest.close());

    const start = await app.http.post('/api/recording-sessions', { connectionId: room, layout: 'grid', format: 'webm' });
    expect(start.status).toBe(201);
    const recordingId = start.json.session.id as string;
    const hostPeer = peerStream(recordingId, host.participantId);
    const guestPeer = peerStream(recordingId, guest.participantId);

    // failed, asked again after the first delay, a second offer, media
    const flowing = await poll(async () => app.runtime.get(hostPeer)?.value, (v) => v === 'flowing' && host.peers.length === 2, { timeoutMs: 30_000, stepMs: 100 });
    expect(flowing, JSON.stringify(app.runtime.get(hostPeer)?.context)).toBe('flowing');
    const types = (await peerEvents(app, recordingId, host.participantId)).map((e) => e.type);
    const failedAt = types.indexOf('peer.failed');
    expect(failedAt, types.join(' ')).toBeGreaterThan(0);
    expect(types.slice(failedAt)).toEqual(expect.arrayContaining(['peer.retry.due', 'peer.offer.received', 'peer.connected', 'peer.media.started']));
    expect(types.indexOf('peer.retry.due')).toBeGreaterThan(failedAt);
    expect(app.runtime.get(hostPeer)!.context).toMatchObject({ offers: 2, retries: 0, problemKind: null });
    // the other participant: one offer, never failed, never asked again
    const guestTypes = (await peerEvents(app, recordingId, guest.participantId)).map((e) => e.type);
    expect(guestTypes.filter((t) => t === 'peer.offer.received')).toHaveLength(1);
    expect(guestTypes).not.toContain('peer.failed');
    expect(guestTypes).not.toContain('peer.retry.due');
    expect(guest.peers).toHaveLength(1);
    expect(app.runtime.get(guestPeer)?.value).toBe('flowing');

    await sleep(2_000);
    const stop = await app.http.delete(`/api/recording-sessions/${recordingId}`);
    expect(stop.status).toBe(200);
    const job = await waitForJob(app.http, stop.json.compositionJob.id, 90_000);
    expect(job.status, JSON.stringify(job)).toBe('completed');
    // both participants' audio and video are in the composition; the host's come from its second peer
    for (const p of [host, guest]) {
      const kinds = job.inputFiles.filter((f: string) => f.includes(p.participantId)).map((f: string) => (f.includes('-video-') ? 'video' : 'audio'));
      expect(kinds.sort(), `${p.participantId}: ${job.inputFiles.join(' ')}`).toEqual(['audio', 'video']);
    }
    const session = (await app.http.get(`/api/recording-sessions/${recordingId}`)).json.session;
    expect(session.participants.find((p: any) => p.participantId === host.participantId)).toMatchObject({ active: false, outcome: 'closed' });
    expect(PEER_RETRY_DELAYS_MS[0]).toBeLessThan(5_000);
  }, 120_000);
});
