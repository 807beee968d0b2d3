import { Webhook } from 'standardwebhooks';
import type { FeedMessage } from './types.js';

export interface SendResult {
  ok: boolean;
  /** The HTTP status, null when none came (timeout, refused connection). */
  status: number | null;
  error: string | null;
  ms: number;
}

export interface SenderOptions {
  /** `whsec_<base64>` (Standard Webhooks). */
  secret: string;
  timeoutMs: number;
  clock?: () => number;
}

export type Sender = (url: string, message: Pick<FeedMessage, 'id' | 'payload'>, signal?: AbortSignal) => Promise<SendResult>;

/**
 * One delivery attempt, signed as Standard Webhooks specifies (the
 * `standardwebhooks` package: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`).
 * Only a 2xx counts; anything else, or no answer within the timeout, is a failure.
 */
export function createSender({ secret, timeoutMs, clock = Date.now }: SenderOptions): Sender {
  const signer = new Webhook(secret);
  return async (url, message, signal) => {
    const started = clock();
    const body = JSON.stringify(message.payload);
    const at = new Date(Math.floor(started / 1000) * 1000);
    const headers = {
      'content-type': 'application/json',
      'webhook-id': message.id,
      'webhook-timestamp': String(at.getTime() / 1000),
      'webhook-signature': signer.sign(message.id, at, body),
      'user-agent': 'meeting-recorder-webhooks/1',
    };
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      await res.arrayBuffer().catch(() => undefined);
      const ok = res.status >= 200 && res.status < 300;
      return { ok, status: res.status, error: ok ? null : `HTTP ${res.status}`, ms: clock() - started };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const error = timeout.aborted
        ? `no answer within ${timeoutMs} ms`
        : signal?.aborted
          ? 'shutting down'
          : (e.cause?.code ?? e.cause?.message ?? e.message);
      return { ok: false, status: null, error: String(error).slice(0, 1000), ms: clock() - started };
    }
  };
}
