/** Types for recorder-client.js (the browser module is plain JS, no build step). */

export interface RecorderClientState {
  connectionId: string | null;
  participantId: string | null;
  recording: { recordingId: string; layout: string; format: string; startedAt: string; stoppedAt: string | null } | null;
  status: 'idle' | 'recording' | 'stopped';
  peer: string;
  serverStatus: { recordingId: string; status: string; message: string | null } | null;
}

export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  addEventListener?(type: 'message', listener: (event: { data: unknown }) => void): void;
  removeEventListener?(type: 'message', listener: (event: { data: unknown }) => void): void;
}

export interface RecorderClientOptions {
  socket: SocketLike;
  getLocalStream: () => MediaStream | null | undefined | Promise<MediaStream | null | undefined>;
  connectionId?: string | null;
  participantId?: string | null;
  rtcConfig?: RTCConfiguration;
  RTCPeerConnectionImpl?: new (config?: RTCConfiguration) => RTCPeerConnection;
  listen?: boolean;
  onStateChange?: (state: RecorderClientState) => void;
  logger?: Pick<Console, 'warn'>;
}

export interface RecorderClient {
  handleMessage(message: unknown): boolean;
  replaceMedia(): Promise<void>;
  readonly state: RecorderClientState;
  readonly peerConnection: RTCPeerConnection | null;
  close(): void;
}

export function createRecorderClient(options: RecorderClientOptions): RecorderClient;
