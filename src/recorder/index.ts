export { createRecorderPeer, validateOfferSdp } from './recorder-peer.js';
export { iceConfigFromEnv, toWeriftIceOptions, IceConfigError } from './ice.js';
export type { IceConfig, IceServer } from './ice.js';
export { safeJoin, sanitizeSegment, PathEscapeError } from './paths.js';
export {
  RecorderPeerError,
  InvalidOfferError,
  OfferFailedError,
  InvalidCandidateError,
  PeerStateError,
  type RecorderPeerErrorCode,
} from './errors.js';
export type {
  RecorderPeer,
  RecorderPeerOptions,
  RecorderPeerEvent,
  RecorderPeerEventType,
  TrackStatsSample,
  PeerConnectionState,
  CandidateInit,
  LocalCandidate,
  MediaKind,
} from './types.js';
