import type { WriteFailureReason } from '../../events/catalog.js';

/**
 * Typed failures of a recorder peer. `code` is stable and maps onto the
 * protocol's `recording-status` values where one exists.
 */
export type RecorderPeerErrorCode =
  | 'invalid-offer' // the offer is not SDP we can apply, or offers nothing we record
  | 'offer-failed' // a valid offer, but answering it failed on our side
  | 'invalid-state' // e.g. a second offer to the same peer (the caller replaces peers instead)
  | 'candidate-rejected' // malformed or unusable remote ICE candidate
  | 'peer-closed'; // the peer was closed

export class RecorderPeerError extends Error {
  constructor(
    readonly code: RecorderPeerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RecorderPeerError';
  }
}

export class InvalidOfferError extends RecorderPeerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid-offer', message, options);
    this.name = 'InvalidOfferError';
  }
}

export class OfferFailedError extends RecorderPeerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('offer-failed', message, options);
    this.name = 'OfferFailedError';
  }
}

export class InvalidCandidateError extends RecorderPeerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('candidate-rejected', message, options);
    this.name = 'InvalidCandidateError';
  }
}

export class PeerStateError extends RecorderPeerError {
  constructor(code: 'invalid-state' | 'peer-closed', message: string) {
    super(code, message);
    this.name = 'PeerStateError';
  }
}

/** A failed write that means the disk cannot take more (ENOSPC, EDQUOT) or is failing (EIO); null for any other error. */
export function writeFailureOf(e: unknown): WriteFailureReason | null {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'disk-full';
  if (code === 'EIO') return 'io-error';
  return null;
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}
