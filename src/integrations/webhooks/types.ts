/**
 * What an endpoint receives (Standard Webhooks): a POST whose body is
 * `{ type, timestamp, data }`, signed in the webhook-* headers.
 */
export const WEBHOOK_TYPES = [
  'room.started',
  'room.finished',
  'participant.joined',
  'participant.left',
  'recording.started',
  'recording.stopped',
  'recording.failed',
  'composition.started',
  'composition.completed',
  'composition.failed',
  // Made from the upload job's events (mapping.ts).
  'upload.completed',
  'upload.failed',
] as const;
export type WebhookType = (typeof WEBHOOK_TYPES)[number];

/** Why a recording stopped, as receivers read it (`api` in the log is `requested` here). */
export type StopReason = 'requested' | 'host-left' | 'interrupted' | 'limit-reached' | 'disk-low' | (string & {});

export interface WebhookPayload {
  type: WebhookType;
  /** When the source event happened (ISO 8601): the same on every attempt. */
  timestamp: string;
  data: Record<string, unknown>;
}

/** One message in a source event's list: where the dispatcher's cursor stands after it. */
export interface FeedMessage {
  /** The `webhook-id`: derived from the source event id, the message's index and the endpoint. */
  id: string;
  payload: WebhookPayload;
  source: { seq: number; eventId: string; index: number; last: boolean };
}
