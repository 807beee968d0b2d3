import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { EventLog } from '../../log/types.js';
import type { Runtime } from '../../runtime/runtime.js';
import { startEndpoint, type Endpoint, type RetryPolicy } from './endpoint.js';
import type { MappingOptions } from './mapping.js';
import { createSender } from './send.js';

export { WEBHOOK_TYPES, type WebhookPayload, type WebhookType } from './types.js';
export { webhooksOf, type MappingOptions } from './mapping.js';
export { messageIdOf } from './feed.js';
export { backoffMs, type RetryPolicy } from './endpoint.js';

export interface WebhooksOptions {
  runtime: Runtime;
  log: EventLog;
  urls: string[];
  /** `whsec_<base64>`. */
  secret: string;
  nodeId: string;
  /** NATS mode: one node delivers each endpoint's messages, under a lease of this length. Null: the only process. */
  leaseMs: number | null;
  timeoutMs: number;
  retry: RetryPolicy;
  mapping: Omit<MappingOptions, 'lookup'>;
  logger: Logger;
}

/** An endpoint's id in stream names: a hash of its URL (the URL may hold credentials; the log never does). */
export const endpointIdOf = (url: string) => createHash('sha256').update(url).digest('hex').slice(0, 16);

/** Origin and path of an endpoint, for logs and the log's `webhook.endpoint.added`. */
export function targetOf(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/**
 * Standard Webhooks deliveries to every configured endpoint, each with its
 * own cursor in the log (src/integrations/webhooks/endpoint.ts).
 */
export function startWebhooks(o: WebhooksOptions) {
  const send = createSender({ secret: o.secret, timeoutMs: o.timeoutMs });
  const endpoints: Endpoint[] = o.urls.map((url) =>
    startEndpoint({
      runtime: o.runtime,
      log: o.log,
      url,
      endpointId: endpointIdOf(url),
      target: targetOf(url),
      send,
      nodeId: o.nodeId,
      leaseMs: o.leaseMs,
      retry: o.retry,
      mapping: o.mapping,
      logger: o.logger.child({ module: 'webhooks', endpoint: targetOf(url) }),
    }),
  );
  return {
    endpoints: endpoints.map((e) => e.endpointId),
    async stop() {
      await Promise.all(endpoints.map((e) => e.stop()));
    },
  };
}
export type Webhooks = ReturnType<typeof startWebhooks>;
