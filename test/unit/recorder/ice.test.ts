import { describe, expect, it } from 'vitest';
import { IceConfigError, iceConfigFromEnv, toWeriftIceOptions } from '../../../src/recorder/ice.js';

describe('iceConfigFromEnv', () => {
  it('defaults to no ICE servers and all interfaces', () => {
    expect(iceConfigFromEnv({})).toEqual({ iceServers: [] });
  });

  it('reads loopback, STUN, TURN, port range, host addresses, interface', () => {
    const c = iceConfigFromEnv({
      RECORDER_ICE_LOOPBACK: '1',
      RECORDER_STUN_URLS: 'stun:stun.example.org:3478, stun:stun2.example.org',
      RECORDER_TURN_URL: 'turn:turn.example.org:3478?transport=udp',
      RECORDER_TURN_USERNAME: 'u',
      RECORDER_TURN_CREDENTIAL: 'p',
      RECORDER_ICE_PORT_RANGE: '40000-40100',
      RECORDER_ICE_HOST_ADDRESSES: '203.0.113.7',
      RECORDER_ICE_INTERFACE: '10.0.0.5',
    });
    expect(c).toEqual({
      iceServers: [
        { urls: ['stun:stun.example.org:3478', 'stun:stun2.example.org'] },
        { urls: ['turn:turn.example.org:3478?transport=udp'], username: 'u', credential: 'p' },
      ],
      loopbackOnly: true,
      portRange: [40000, 40100],
      additionalHostAddresses: ['203.0.113.7'],
      interfaces: { udp4: '10.0.0.5' },
    });
  });

  it.each([
    [{ RECORDER_ICE_PORT_RANGE: '5000' }],
    [{ RECORDER_ICE_PORT_RANGE: '6000-5000' }],
    [{ RECORDER_ICE_PORT_RANGE: '1-70000' }],
    [{ RECORDER_STUN_URLS: 'http://x' }],
    [{ RECORDER_TURN_URL: 'turn:x' }],
    [{ RECORDER_ICE_HOST_ADDRESSES: 'example.org' }],
  ])('rejects malformed values %j', (env) => {
    expect(() => iceConfigFromEnv(env)).toThrow(IceConfigError);
  });

  it('maps loopback-only onto the measured werift recipe', () => {
    expect(toWeriftIceOptions({ iceServers: [{ urls: 'stun:x' }], loopbackOnly: true })).toEqual({
      iceServers: [],
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: ['127.0.0.1'],
      iceInterfaceAddresses: { udp4: '127.0.0.1' },
    });
  });

  it('maps a production config onto werift options', () => {
    expect(
      toWeriftIceOptions({
        iceServers: [{ urls: 'stun:x' }],
        portRange: [40000, 40100],
        additionalHostAddresses: ['203.0.113.7'],
        interfaces: { udp4: '10.0.0.5' },
        relayOnly: true,
      }),
    ).toEqual({
      iceServers: [{ urls: 'stun:x' }],
      iceUseIpv4: true,
      iceUseIpv6: false,
      icePortRange: [40000, 40100],
      iceAdditionalHostAddresses: ['203.0.113.7'],
      iceInterfaceAddresses: { udp4: '10.0.0.5' },
      iceTransportPolicy: 'relay',
    });
  });
});
