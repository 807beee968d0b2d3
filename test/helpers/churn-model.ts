/**
 * The churn test's model and commands (fast-check `fc.commands`): members of
 * one room join and leave (politely or by dropping the socket), the host
 * leaves, recordings start and stop over HTTP, members renegotiate (a fresh
 * offer) or turn their camera off and on, with pauses in between. Each
 * command checks what the protocol promises right away (the first socket is
 * the host, a second start answers 409, the host leaving closes the room);
 * what must hold at the end is in churn-checks.ts.
 */
import fc from 'fast-check';
import { streamOf } from '../../events/streams.js';
import type { TestApp } from './app.js';
import { Participant } from './participant.js';
import type { SyntheticSenderOptions } from './sender.js';
import { sleep } from './wait.js';

export const MAX_MEMBERS = 4;
/** Small, cheap media: up to four ffmpeg encoders share two cores with the recorder and the composer. */
const MEDIA = { width: 320, height: 180, fps: 15, gopFrames: 15, videoKbps: 250, durationMs: 120_000 } as const;
/** Every request closes its connection: no keep-alive socket is left to blur the socket counts. */
const NO_KEEPALIVE = { connection: 'close' };

export interface ChurnModel {
  /** Members in the room, the host included (0: no room). */
  members: number;
  recording: boolean;
}

export interface RecordingRecord {
  id: string;
  startedAt: number;
  /** When its stop was asked for (DELETE or the host leaving); null while it runs. */
  stopRequestedAt: number | null;
}

export interface ChurnReal {
  app: TestApp;
  room: string;
  /** members[0] is the host while there is a room. */
  members: ChurnMember[];
  active: RecordingRecord | null;
  recordings: RecordingRecord[];
  /** What ran, with times since the run started: printed with a failure. */
  trace: string[];
  /** Client-side trouble that is not a server fault by itself (printed with a failure). */
  notes: string[];
  t0: number;
  nextName: number;
}

export function newReal(app: TestApp, room: string): ChurnReal {
  return { app, room, members: [], active: null, recordings: [], trace: [], notes: [], t0: Date.now(), nextName: 1 };
}

const say = (r: ChurnReal, line: string) => r.trace.push(`${((Date.now() - r.t0) / 1000).toFixed(2)}s ${line}`);

/** A meeting client: a real socket and werift sender (test/helpers/participant.ts) that answers peer requests with its camera state. */
export class ChurnMember {
  private readonly offered = new Set<string>();
  /** Offers one at a time: a renegotiation racing a peer request would otherwise leave a sender unclosed. */
  private chain: Promise<unknown> = Promise.resolve();
  gone = false;

  private constructor(
    readonly p: Participant,
    public camera: boolean,
    private readonly real: ChurnReal,
  ) {}

  static async join(real: ChurnReal, camera: boolean): Promise<ChurnMember> {
    const name = `m${real.nextName++}`;
    const p = await Participant.join(real.app.url, real.room, { name, ignorePeerRequests: true, media: MEDIA });
    const m = new ChurnMember(p, camera, real);
    const onMessage = (msg: any) => {
      if (msg?.type === 'recording-peer-request' && msg.connectionId === real.room) m.onPeerRequest(msg.recordingId);
    };
    // A peer request can arrive in the same read as the connect reply, before this listener exists.
    for (const msg of p.client.received) onMessage(msg);
    p.client.ws.on('message', (raw) => {
      try {
        onMessage(JSON.parse(String(raw)));
      } catch {
        // not JSON
      }
    });
    return m;
  }

  get id(): string {
    return this.p.participantId;
  }

  private media(): Partial<SyntheticSenderOptions> {
    return { ...MEDIA, video: this.camera ? 'vp8' : false, audio: true };
  }

  private enqueue(what: string, recordingId: string): Promise<void> {
    const next = this.chain.then(async () => {
      if (this.gone) return;
      await this.p.offer(recordingId, this.media());
    });
    this.chain = next.catch((err) => this.real.notes.push(`${this.id} ${what}: ${(err as Error).message}`));
    return this.chain as Promise<void>;
  }

  private onPeerRequest(recordingId: string) {
    if (this.offered.has(recordingId)) return;
    this.offered.add(recordingId);
    void this.enqueue('offer', recordingId);
  }

  /** A fresh offer for the recording, if this member has a peer for it; false when it has none yet. */
  async renegotiate(recordingId: string): Promise<boolean> {
    await this.chain;
    if (!this.offered.has(recordingId)) return false;
    await this.enqueue('renegotiation', recordingId);
    return true;
  }

  /** Leaves: with a `disconnect` message, or by dropping the socket. */
  async leave(abrupt: boolean): Promise<void> {
    this.gone = true;
    if (abrupt) this.p.client.terminate();
    else this.p.client.send({ type: 'disconnect', connectionId: this.real.room });
    await this.chain;
    await this.p.close();
  }

  async close(): Promise<void> {
    this.gone = true;
    await this.chain;
    await this.p.close();
  }
}

type Cmd = fc.AsyncCommand<ChurnModel, ChurnReal>;

const roomState = (r: ChurnReal) => r.app.runtime.get(streamOf('room', r.room));

async function waitRoomClosed(r: ChurnReal, why: string) {
  const deadline = Date.now() + 5_000;
  while (roomState(r)?.value !== 'closed') {
    if (Date.now() > deadline) throw new Error(`room ${r.room} still ${JSON.stringify(roomState(r)?.value)} 5 s after ${why}`);
    await sleep(20);
  }
}

class Join implements Cmd {
  constructor(readonly camera: boolean) {}
  check = (m: Readonly<ChurnModel>) => m.members < MAX_MEMBERS;
  async run(m: ChurnModel, r: ChurnReal) {
    const member = await ChurnMember.join(r, this.camera);
    say(r, `${this} → ${member.id} (${member.p.role})`);
    r.members.push(member);
    const expected = m.members === 0 ? 'host' : 'participant';
    m.members++;
    if (member.p.role !== expected) throw new Error(`joined as ${member.p.role}, expected ${expected} (${m.members - 1} members before)`);
  }
  toString = () => `join(camera ${this.camera ? 'on' : 'off'})`;
}

class Leave implements Cmd {
  constructor(
    readonly k: number,
    readonly abrupt: boolean,
  ) {}
  check = (m: Readonly<ChurnModel>) => m.members >= 2;
  async run(m: ChurnModel, r: ChurnReal) {
    const i = 1 + (this.k % (r.members.length - 1));
    const [member] = r.members.splice(i, 1);
    m.members--;
    say(r, `${this} → ${member!.id}`);
    await member!.leave(this.abrupt);
  }
  toString = () => `leave(member ${this.k}${this.abrupt ? ', socket dropped' : ''})`;
}

/** The host leaves: the room closes, its recording stops, every other member is told `host-left`. */
export async function hostLeaves(m: ChurnModel, r: ChurnReal, abrupt: boolean) {
  const [host, ...others] = r.members.splice(0);
  const told = others.map((o) =>
    o.p.client.next('disconnect', (x) => x.connectionId === r.room, 5_000).then(
      (x) => (x.reason === 'host-left' ? null : `${o.id} got disconnect with reason ${JSON.stringify(x.reason)}`),
      () => `${o.id} got no disconnect within 5 s of the host leaving`,
    ),
  );
  if (r.active) r.active.stopRequestedAt = Date.now();
  r.active = null;
  m.members = 0;
  m.recording = false;
  await host!.leave(abrupt);
  await waitRoomClosed(r, 'its host left');
  const problems = (await Promise.all(told)).filter((x): x is string => x !== null);
  await Promise.all(others.map((o) => o.close()));
  if (problems.length) throw new Error(problems.join('; '));
}

class HostLeave implements Cmd {
  constructor(readonly abrupt: boolean) {}
  check = (m: Readonly<ChurnModel>) => m.members >= 1;
  async run(m: ChurnModel, r: ChurnReal) {
    say(r, `${this} → ${r.members[0]!.id}`);
    await hostLeaves(m, r, this.abrupt);
  }
  toString = () => `hostLeave(${this.abrupt ? 'socket dropped' : 'disconnect'})`;
}

class Start implements Cmd {
  constructor(
    readonly layout: string,
    readonly format: string,
  ) {}
  check = () => true;
  async run(m: ChurnModel, r: ChurnReal) {
    // A recording being stopped keeps the room busy until its peers have closed: 409 is right then too.
    const busy = !!roomState(r)?.context.activeRecordingId;
    const res = await r.app.http.post('/api/recording-sessions', { connectionId: r.room, layout: this.layout, format: this.format }, NO_KEEPALIVE);
    say(r, `${this} → ${res.status}${res.json?.session?.id ? ` ${res.json.session.id}` : ''}`);
    const allowed = m.members === 0 ? [404] : m.recording ? [409] : busy ? [201, 409] : [201];
    if (!allowed.includes(res.status)) throw new Error(`POST /api/recording-sessions answered ${res.status} (expected ${allowed.join(' or ')}): ${res.text.slice(0, 300)}`);
    if (res.status === 201) {
      const rec = { id: res.json.session.id as string, startedAt: Date.now(), stopRequestedAt: null };
      r.recordings.push(rec);
      r.active = rec;
      m.recording = true;
    }
  }
  toString = () => `start(${this.layout}, ${this.format})`;
}

class Stop implements Cmd {
  check = (m: Readonly<ChurnModel>) => m.recording;
  async run(m: ChurnModel, r: ChurnReal) {
    const rec = r.active!;
    rec.stopRequestedAt = Date.now();
    r.active = null;
    m.recording = false;
    const res = await r.app.http.delete(`/api/recording-sessions/${rec.id}`, NO_KEEPALIVE);
    say(r, `${this} → ${res.status} ${rec.id} (${res.json?.session?.state})`);
    if (res.status !== 200) throw new Error(`DELETE /api/recording-sessions/${rec.id} answered ${res.status}: ${res.text.slice(0, 300)}`);
  }
  toString = () => 'stop';
}

class Renegotiate implements Cmd {
  constructor(readonly k: number) {}
  check = (m: Readonly<ChurnModel>) => m.recording && m.members >= 1;
  async run(_m: ChurnModel, r: ChurnReal) {
    const member = r.members[this.k % r.members.length]!;
    const done = await member.renegotiate(r.active!.id);
    say(r, `${this} → ${member.id}${done ? '' : ' (no peer yet: nothing to renegotiate)'}`);
  }
  toString = () => `renegotiate(member ${this.k})`;
}

class Camera implements Cmd {
  constructor(readonly k: number) {}
  check = (m: Readonly<ChurnModel>) => m.members >= 1;
  async run(_m: ChurnModel, r: ChurnReal) {
    const member = r.members[this.k % r.members.length]!;
    member.camera = !member.camera;
    const done = r.active ? await member.renegotiate(r.active.id) : false;
    say(r, `${this} → ${member.id} camera ${member.camera ? 'on' : 'off'}${done ? ', fresh offer' : ''}`);
  }
  toString = () => `toggleCamera(member ${this.k})`;
}

class Wait implements Cmd {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(_m: ChurnModel, r: ChurnReal) {
    await sleep(this.ms);
    say(r, `${this}`);
  }
  toString = () => `wait(${this.ms} ms)`;
}

/** The command arbitraries, weighted by repetition (joins, starts and pauses are what make recordings with media). */
export function churnCommands(maxCommands: number, replayPath?: string) {
  const member = fc.nat({ max: MAX_MEMBERS - 1 });
  const join = fc.boolean().map((camera) => new Join(camera) as Cmd);
  const start = fc
    .tuple(fc.constantFrom('grid', 'grid', 'host-led', 'speaker'), fc.constantFrom('webm', 'webm', 'mp4'))
    .map(([l, f]) => new Start(l, f) as Cmd);
  const wait = fc.integer({ min: 200, max: 2_500 }).map((ms) => new Wait(ms) as Cmd);
  return fc.commands(
    [
      join,
      join,
      start,
      start,
      wait,
      wait,
      wait,
      fc.constant(new Stop() as Cmd),
      fc.tuple(member, fc.boolean()).map(([k, abrupt]) => new Leave(k, abrupt) as Cmd),
      fc.boolean().map((abrupt) => new HostLeave(abrupt) as Cmd),
      member.map((k) => new Renegotiate(k) as Cmd),
      member.map((k) => new Camera(k) as Cmd),
    ],
    { maxCommands, size: 'max', ...(replayPath ? { replayPath } : {}) },
  );
}

/**
 * Every run opens the same way, outside the random part (so shrinking keeps it):
 * a host with a camera, recording, whose media reached the recorder. Short
 * random sequences are then still a meeting with something to compose.
 */
export async function openMeeting(r: ChurnReal): Promise<ChurnModel> {
  const m: ChurnModel = { members: 0, recording: false };
  for (const c of [new Join(true), new Start('grid', 'webm')]) await c.run(m, r);
  const stream = streamOf('peer', `${r.active!.id}.${r.members[0]!.id}`);
  const flowing = await r.app.runtime.waitFor(stream, (s) => s.value === 'flowing', 15_000);
  if (!flowing) throw new Error(`the host's recorder peer is ${JSON.stringify(r.app.runtime.get(stream)?.value)} 15 s after the recording started`);
  say(r, 'host media flowing');
  return m;
}
