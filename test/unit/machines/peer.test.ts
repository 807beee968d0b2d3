import { describe, expect, it } from 'vitest';
import { MEDIA_TIMEOUT_MS } from '../../../machines/peer.js';
import { ev, given } from '../../helpers/given.js';

const P = 'peer:rec1.p';
const requested = (segmentBase = 0) =>
  ev(P, 'peer.requested', {
    recordingId: 'rec1', roomId: 'r1', participantId: 'p', role: 'participant', name: 'Pat',
    layout: 'grid', format: 'webm', startedAt: 1000, segmentBase,
  });
const offer = (sdp = 'v=0 offer') => ev(P, 'peer.offer.received', { sdp });
const seg = (file: string) => ({ file, kind: 'video', segmentIndex: 0, offsetMs: 10, durationMs: 900, codec: 'vp8' });

describe('recorder peer machine', () => {
  it('waits for an offer with a timer, and times out into a visible state', () => {
    const r = given(P).when(requested());
    expect(r.snapshot.value).toBe('requested');
    expect(r.effects).toContainEqual({ type: 'scheduleTimer', params: expect.objectContaining({ key: 'offer', type: 'peer.offer.timed-out' }) });
    const t = given(P, [requested()]).when(ev(P, 'peer.offer.timed-out'));
    expect(t.snapshot.value).toBe('no-offer');
    expect(t.snapshot.context.problem).toMatch(/no offer/);
    expect(t.snapshot.context.problemKind).toBe('offer-timed-out');
  });

  it('an offer opens the recorder peer with the next segment index', () => {
    const o = given(P, [requested(2)]).when(offer());
    expect(o.snapshot.value).toBe('negotiating');
    const open = o.effects.find((e) => e.type === 'openRecorderPeer');
    expect(open?.params).toMatchObject({ offerNumber: 1, segmentIndex: 2, sdp: 'v=0 offer', participantId: 'p', startedAt: 1000 });
  });

  it('carries who sends into the recorder peer: the userId asked with, and one learned later (next offers too)', () => {
    const withUser = ev(P, 'peer.requested', {
      recordingId: 'rec1', roomId: 'r1', participantId: 'p', role: 'participant', name: 'Pat', userId: 'u-pat',
      layout: 'grid', format: 'webm', startedAt: 1000, segmentBase: 0,
    });
    expect(given(P, [withUser]).when(offer()).effects.find((e) => e.type === 'openRecorderPeer')?.params).toMatchObject({ name: 'Pat', userId: 'u-pat' });
    expect(given(P, [requested()]).when(offer()).effects.find((e) => e.type === 'openRecorderPeer')?.params).toMatchObject({ name: 'Pat', userId: null });
    const later = given(P, [requested(), offer()]).when(ev(P, 'peer.identified', { name: 'Patricia', userId: 'u-p' }));
    expect(later.accepted).toBe(true);
    expect(later.effects).toContainEqual({ type: 'identifyRecorderPeer', params: { recordingId: 'rec1', participantId: 'p', name: 'Patricia', userId: 'u-p' } });
    expect(later.snapshot.value).toBe('negotiating');
    const reoffer = given(P, [requested(), offer(), ev(P, 'peer.identified', { name: 'Patricia', userId: 'u-p' })]).when(offer('v=0 second'));
    expect(reoffer.effects.find((e) => e.type === 'openRecorderPeer')?.params).toMatchObject({ offerNumber: 2, name: 'Patricia', userId: 'u-p' });
  });

  it('goes connected → flowing; a new offer replaces the peer and keeps segments', () => {
    const h = [
      requested(), offer(),
      ev(P, 'peer.answered', { offerNumber: 1, sdp: 'answer' }),
      ev(P, 'peer.connected', { offerNumber: 1 }),
      ev(P, 'peer.media.started', { offerNumber: 1, kind: 'video' }),
    ];
    expect(given(P, h).snapshot.value).toBe('flowing');
    const re = given(P, h).when(offer('v=0 second'));
    expect(re.snapshot.value).toBe('negotiating');
    expect(re.effects.find((e) => e.type === 'openRecorderPeer')?.params).toMatchObject({ offerNumber: 2, segmentIndex: 1 });
    // the replaced peer's segment arrives afterwards and is kept and reported
    const late = given(P, [...h, offer('v=0 second')]).when(ev(P, 'peer.segment.finalized', { offerNumber: 1, segment: seg('s0.webm') }));
    expect(late.snapshot.context.segments.map((s: any) => s.file)).toEqual(['s0.webm']);
    expect(late.emitted).toEqual([expect.objectContaining({ stream: 'recording:rec1', type: 'recording.segment.recorded' })]);
  });

  it('results of a replaced offer are ignored', () => {
    const h = [requested(), offer(), offer('v=0 second')];
    expect(given(P, h).when(ev(P, 'peer.connected', { offerNumber: 1 })).accepted).toBe(false);
    expect(given(P, h).when(ev(P, 'peer.connected', { offerNumber: 2 })).snapshot.value).toBe('connected');
  });

  it('a client without media is visible as no-media', () => {
    const o = given(P, [requested()]).when(ev(P, 'peer.status.reported', { status: 'no-local-media' }));
    expect(o.snapshot.value).toBe('no-media');
  });

  it('closing finalizes and reports the outcome and segments to the session', () => {
    const h = [requested(), offer(), ev(P, 'peer.connected', { offerNumber: 1 }), ev(P, 'peer.media.started', { offerNumber: 1, kind: 'audio' })];
    const closing = given(P, h).when(ev(P, 'peer.close.requested', { reason: 'recording-stopped' }));
    expect(closing.snapshot.value).toBe('closing');
    expect(closing.effects).toContainEqual({ type: 'closeRecorderPeer', params: { recordingId: 'rec1', participantId: 'p', reason: 'recording-stopped' } });
    const closed = given(P, [...h, ev(P, 'peer.close.requested', { reason: 'x' })]).when(ev(P, 'peer.closed', { reason: 'x', segments: [seg('a.webm')] }));
    expect(closed.snapshot.value).toBe('closed');
    expect(closed.emitted).toEqual([
      expect.objectContaining({ type: 'recording.peer.closed', data: { participantId: 'p', outcome: 'closed', segments: [seg('a.webm')] } }),
    ]);
  });

  it('a peer that never sent an offer closes as no-offer', () => {
    const h = [requested(), ev(P, 'peer.offer.timed-out'), ev(P, 'peer.close.requested', { reason: 'recording-stopped' })];
    const o = given(P, h).when(ev(P, 'peer.closed', { reason: 'recording-stopped', segments: [] }));
    expect((o.emitted[0].data as any).outcome).toBe('no-offer');
  });

  it('a failed peer is revived by a fresh offer', () => {
    const h = [requested(), offer(), ev(P, 'peer.failed', { offerNumber: 1, error: 'ICE failed' })];
    expect(given(P, h).snapshot.value).toBe('failed');
    expect(given(P, h).when(offer('again')).snapshot.value).toBe('negotiating');
  });

  it('times "no media" itself: connected schedules the media timer, which marks the peer no-media', () => {
    const h = [requested(), offer(), ev(P, 'peer.connected', { offerNumber: 1 })];
    const connected = given(P, h.slice(0, 2)).when(h[2]!);
    expect(connected.effects).toContainEqual({
      type: 'scheduleTimer',
      params: { key: 'media', delayMs: MEDIA_TIMEOUT_MS, type: 'peer.media.timed-out', data: {} },
    });
    expect(MEDIA_TIMEOUT_MS).toBe(10_000);
    const timedOut = given(P, h).when(ev(P, 'peer.media.timed-out'));
    expect(timedOut.snapshot.value).toBe('no-media');
    expect(timedOut.snapshot.context).toMatchObject({ problemKind: 'media-timed-out', problem: 'connected but no media within 10 s' });
    // media that was merely late clears the problem
    const late = given(P, [...h, ev(P, 'peer.media.timed-out')]).when(ev(P, 'peer.media.started', { offerNumber: 1, kind: 'video' }));
    expect(late.snapshot.value).toBe('flowing');
    expect(late.snapshot.context).toMatchObject({ problemKind: null, problem: null });
  });

  it.each([
    ['a client status', [ev(P, 'peer.status.reported', { status: 'no-local-media' })], 'client-reported', 'no-media'],
    ['no media after connecting', [offer(), ev(P, 'peer.connected', { offerNumber: 1 }), ev(P, 'peer.media.timed-out')], 'media-timed-out', 'no-media'],
    ['a failed offer', [offer(), ev(P, 'peer.offer.failed', { offerNumber: 1, status: 'offer-failed', error: 'boom' })], 'offer-failed', 'failed'],
    ['a failed connection', [offer(), ev(P, 'peer.failed', { offerNumber: 1, error: 'ICE failed' })], 'peer-failed', 'failed'],
    ['an unanswered request', [ev(P, 'peer.offer.timed-out')], 'offer-timed-out', 'no-offer'],
  ])('the problem kind, not its wording, decides the outcome: %s', (_, events, kind, outcome) => {
    const h = [requested(), ...events];
    expect(given(P, h).snapshot.context.problemKind).toBe(kind);
    const closed = given(P, [...h, ev(P, 'peer.close.requested', { reason: 'x' })]).when(ev(P, 'peer.closed', { reason: 'x', segments: [] }));
    expect((closed.emitted[0]!.data as { outcome: string }).outcome).toBe(outcome);
  });

  it('a fresh offer clears the problem', () => {
    const h = [requested(), offer(), ev(P, 'peer.failed', { offerNumber: 1, error: 'ICE failed' }), offer('again')];
    expect(given(P, h).snapshot.context).toMatchObject({ problemKind: null, problem: null, offers: 2 });
  });
});
