import WebSocket, { type ClientOptions } from 'ws';

/** A promise-based signaling client for tests: take the next message of a type, or prove none came. */
export class TestClient {
  /** Every message received, in order (parsed JSON; raw text when not JSON). */
  readonly received: any[] = [];
  private readonly pending: any[] = [];
  private waiters: { match: (m: any) => boolean; resolve: (m: any) => void }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : String(data);
      let m: any;
      try {
        m = isBinary ? { binary: true } : JSON.parse(text);
      } catch {
        m = text;
      }
      this.received.push(m);
      const i = this.waiters.findIndex((w) => w.match(m));
      if (i === -1) this.pending.push(m);
      else this.waiters.splice(i, 1)[0].resolve(m);
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static open(url: string, options?: ClientOptions): Promise<TestClient> {
    const ws = new WebSocket(url, options);
    const client = new TestClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  /** Sends an object as JSON; strings and buffers are sent as they are. */
  send(message: unknown, opts?: { binary?: boolean }): void {
    if (typeof message === 'string' || Buffer.isBuffer(message)) this.ws.send(message, { binary: opts?.binary ?? Buffer.isBuffer(message) });
    else this.ws.send(JSON.stringify(message));
  }

  /** The next (not yet taken) message of `type` satisfying `where`; rejects after timeoutMs. */
  next<T = any>(type: string, where: (m: any) => boolean = () => true, timeoutMs = 3000): Promise<T> {
    const match = (m: any) => m?.type === type && where(m);
    const i = this.pending.findIndex(match);
    if (i !== -1) return Promise.resolve(this.pending.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (m: any) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no ${type} message within ${timeoutMs} ms; received: ${JSON.stringify(this.received.map((m) => m?.type ?? m)).slice(0, 500)}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  private probes = 0;

  /**
   * A round trip through this socket's ordered handling on the server: a relay
   * to a room this socket is not in, which the server answers with an error and
   * does nothing else with. Every message the server sent this socket before it
   * handled the probe arrives before that reply (one TCP stream, one queue per
   * socket). A closed socket has nothing more to receive: it returns at once.
   */
  async roundTrip(timeoutMs = 5000): Promise<void> {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const id = `probe-${++this.probes}`;
    this.send({ type: 'candidate', to: id, data: { connectionId: id, candidate: '', sdpMid: null, sdpMLineIndex: null } });
    const isReply = (m: any) => typeof m?.message === 'string' && (m.message.includes(id) || m.message === 'candidate: send connect first');
    await this.next('error', isReply, timeoutMs);
    const i = this.received.findIndex((m) => m?.type === 'error' && isReply(m));
    if (i !== -1) this.received.splice(i, 1); // the probe is not part of the conversation under test
  }

  /**
   * Rejects if a message of `type` (satisfying `where`) was received and not
   * taken, or arrives before the reply to a round trip sent now: the reply is
   * the marker that anything the server had sent this socket is in. A window
   * of time could not see a message that is merely late; `timeoutMs` only
   * bounds the wait for the marker.
   */
  async none(type: string, timeoutMs = 5000, where: (m: any) => boolean = () => true): Promise<void> {
    await this.roundTrip(Math.max(timeoutMs, 5000));
    const i = this.pending.findIndex((m) => m?.type === type && where(m));
    if (i !== -1) throw new Error(`unexpected ${type}: ${JSON.stringify(this.pending[i])}`);
  }

  /** Messages received but not taken yet. */
  get unread(): any[] {
    return [...this.pending];
  }

  /** Connects to a room and returns the server's connect reply. */
  async join(connectionId: string, name?: string): Promise<{ connectionId: string; role: 'host' | 'participant'; polite: boolean; participantId: string }> {
    this.send({ type: 'connect', connectionId, ...(name ? { name } : {}) });
    return this.next('connect');
  }

  close(): void {
    this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}
