import type { RTCPeerConnectionConfig } from 'werift';

export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** Where the recorder's peers gather candidates. Built by iceConfigFromEnv or by hand. */
export interface IceConfig {
  iceServers: IceServer[];
  /** Gather only a 127.0.0.1 host candidate (tests, same-host clients). */
  loopbackOnly?: boolean;
  /** Extra host addresses to offer, e.g. a public IP that is NATed to this host. */
  additionalHostAddresses?: string[];
  /** UDP port range for ICE sockets, inclusive; min must be below max. */
  portRange?: [number, number];
  /** Bind ICE sockets to these local interface addresses. */
  interfaces?: { udp4?: string; udp6?: string };
  /** Gather IPv6 host candidates (default false: many hosts have unusable v6). */
  useIpv6?: boolean;
  /** Only use TURN relays. */
  relayOnly?: boolean;
}

export class IceConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IceConfigError';
  }
}

type Env = Record<string, string | undefined>;

const list = (v: string | undefined): string[] =>
  (v ?? '')
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);

const flag = (v: string | undefined): boolean => v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());

/**
 * Reads the recorder's ICE settings:
 * - RECORDER_ICE_LOOPBACK=1                only 127.0.0.1 (no STUN/TURN, no other interfaces)
 * - RECORDER_STUN_URLS=stun:a:3478,stun:b  STUN servers (none by default: the recorder is usually reachable)
 * - RECORDER_TURN_URL[S], RECORDER_TURN_USERNAME, RECORDER_TURN_CREDENTIAL
 * - RECORDER_ICE_PORT_RANGE=40000-40999    UDP port range
 * - RECORDER_ICE_HOST_ADDRESSES=203.0.113.7  extra host candidate addresses
 * - RECORDER_ICE_INTERFACE=10.0.0.5         bind IPv4 ICE sockets to this address
 * - RECORDER_ICE_IPV6=1, RECORDER_ICE_RELAY_ONLY=1
 * Throws IceConfigError on malformed values instead of guessing.
 */
export function iceConfigFromEnv(env: Env): IceConfig {
  const config: IceConfig = { iceServers: [] };

  const stun = list(env.RECORDER_STUN_URLS);
  for (const url of stun) {
    if (!/^stuns?:/.test(url)) throw new IceConfigError(`RECORDER_STUN_URLS: not a stun: URL: ${url}`);
  }
  if (stun.length > 0) config.iceServers.push({ urls: stun });

  const turn = list(env.RECORDER_TURN_URLS ?? env.RECORDER_TURN_URL);
  if (turn.length > 0) {
    for (const url of turn) {
      if (!/^turns?:/.test(url)) throw new IceConfigError(`RECORDER_TURN_URL: not a turn: URL: ${url}`);
    }
    const username = env.RECORDER_TURN_USERNAME;
    const credential = env.RECORDER_TURN_CREDENTIAL;
    if (!username || !credential) {
      throw new IceConfigError('RECORDER_TURN_URL needs RECORDER_TURN_USERNAME and RECORDER_TURN_CREDENTIAL');
    }
    config.iceServers.push({ urls: turn, username, credential });
  }

  if (flag(env.RECORDER_ICE_LOOPBACK)) config.loopbackOnly = true;

  const range = env.RECORDER_ICE_PORT_RANGE?.trim();
  if (range) {
    const m = /^(\d{1,5})\s*[-:,]\s*(\d{1,5})$/.exec(range);
    const min = m ? Number(m[1]) : NaN;
    const max = m ? Number(m[2]) : NaN;
    if (!m || min < 1 || max > 65535 || min >= max) {
      throw new IceConfigError(`RECORDER_ICE_PORT_RANGE: expected MIN-MAX with 1 <= MIN < MAX <= 65535, got ${range}`);
    }
    config.portRange = [min, max];
  }

  const hosts = list(env.RECORDER_ICE_HOST_ADDRESSES);
  for (const h of hosts) {
    if (!isIpLiteral(h)) throw new IceConfigError(`RECORDER_ICE_HOST_ADDRESSES: not an IP address: ${h}`);
  }
  if (hosts.length > 0) config.additionalHostAddresses = hosts;

  const iface = env.RECORDER_ICE_INTERFACE?.trim();
  if (iface) {
    if (!isIpLiteral(iface)) throw new IceConfigError(`RECORDER_ICE_INTERFACE: not an IP address: ${iface}`);
    config.interfaces = iface.includes(':') ? { udp6: iface } : { udp4: iface };
  }

  if (flag(env.RECORDER_ICE_IPV6)) config.useIpv6 = true;
  if (flag(env.RECORDER_ICE_RELAY_ONLY)) config.relayOnly = true;
  return config;
}

function isIpLiteral(s: string): boolean {
  return /^(\d{1,3}\.){3}\d{1,3}$/.test(s) || (/^[0-9a-fA-F:]+$/.test(s) && s.includes(':'));
}

/**
 * Maps IceConfig onto werift's peer options. Loopback-only is the measured
 * recipe from media-notes (host gathering otherwise skips 127.0.0.1).
 */
export function toWeriftIceOptions(ice: IceConfig): Partial<RTCPeerConnectionConfig> {
  if (ice.loopbackOnly) {
    return {
      iceServers: [],
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: ['127.0.0.1'],
      // werift binds host sockets to 0.0.0.0 unless told otherwise: keep loopback really loopback.
      iceInterfaceAddresses: { udp4: '127.0.0.1' },
      ...(ice.portRange ? { icePortRange: ice.portRange } : {}),
    };
  }
  return {
    iceServers: ice.iceServers.map((s) => ({ ...s })),
    iceUseIpv4: true,
    iceUseIpv6: ice.useIpv6 ?? false,
    ...(ice.additionalHostAddresses?.length ? { iceAdditionalHostAddresses: [...ice.additionalHostAddresses] } : {}),
    ...(ice.portRange ? { icePortRange: ice.portRange } : {}),
    ...(ice.interfaces ? { iceInterfaceAddresses: { ...ice.interfaces } } : {}),
    ...(ice.relayOnly ? { iceTransportPolicy: 'relay' as const } : {}),
  };
}
