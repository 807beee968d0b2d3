import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { natsConnectOptions } from '../../../src/nats-options.js';

const config = (env: Record<string, string>) => loadConfig({ NATS_URL: 'nats://127.0.0.1:4222', ...env });

describe('NATS connect options from the environment', () => {
  it('maps user/password and token', () => {
    expect(natsConnectOptions(config({}))).toEqual({});
    expect(natsConnectOptions(config({ NATS_USER: 'u', NATS_PASSWORD: 'p' }))).toEqual({ user: 'u', pass: 'p' });
    expect(natsConnectOptions(config({ NATS_TOKEN: 't' }))).toEqual({ token: 't' });
  });

  it('reads the creds file and the CA once, naming the variable when it cannot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mr-nats-opts-'));
    try {
      await writeFile(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n');
      await writeFile(join(dir, 'u.creds'), 'creds');
      const o = natsConnectOptions(config({ NATS_CREDS: join(dir, 'u.creds'), NATS_TLS_CA: join(dir, 'ca.pem') }));
      expect(o.tls).toEqual({ ca: expect.stringContaining('BEGIN CERTIFICATE') });
      expect(o.authenticator).toBeTypeOf('function');
      expect(() => natsConnectOptions(config({ NATS_TLS_CA: join(dir, 'missing.pem') }))).toThrow(/NATS_TLS_CA: cannot read/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses half or conflicting credentials', () => {
    expect(() => config({ NATS_USER: 'u' })).toThrow(/NATS_USER and NATS_PASSWORD/);
    expect(() => config({ NATS_USER: 'u', NATS_PASSWORD: 'p', NATS_TOKEN: 't' })).toThrow(/one of/);
  });
});

describe('access control configuration', () => {
  it('AUTH_SECRET shorter than 32 characters is a configuration error', () => {
    expect(() => loadConfig({ AUTH_SECRET: 'too-short' })).toThrow(/AUTH_SECRET: must be at least 32 characters/);
    expect(loadConfig({ AUTH_SECRET: 'x'.repeat(32) }).auth.secret).toBe('x'.repeat(32));
    expect(loadConfig({}).auth).toMatchObject({ secret: undefined, allowedOrigins: [], signedUrlTtlSeconds: 3600 });
  });

  it('ALLOWED_ORIGINS is a comma-separated list of origins', () => {
    expect(loadConfig({ ALLOWED_ORIGINS: 'https://a.example, http://b.example:8080/' }).auth.allowedOrigins).toEqual(['https://a.example', 'http://b.example:8080']);
    expect(() => loadConfig({ ALLOWED_ORIGINS: 'a.example' })).toThrow(/ALLOWED_ORIGINS/);
  });
});
