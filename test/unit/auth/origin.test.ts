import { describe, expect, it } from 'vitest';
import { createOriginPolicy } from '../../../src/auth/origin.js';

describe('origin policy', () => {
  const policy = createOriginPolicy({ allowedOrigins: ['https://meet.example.com'], publicUrl: 'https://rec.example.com/' });

  it("knows the server's own origin by Host or PUBLIC_URL", () => {
    expect(policy.own('http://127.0.0.1:8080', '127.0.0.1:8080')).toBe(true);
    expect(policy.own('https://rec.example.com', 'internal:8080')).toBe(true);
    expect(policy.own('http://127.0.0.1:8081', '127.0.0.1:8080')).toBe(false);
    expect(policy.own('http://evil.example', undefined)).toBe(false);
    expect(policy.own('null', '127.0.0.1:8080')).toBe(false);
  });

  it('lists only ALLOWED_ORIGINS (they alone get CORS)', () => {
    expect(policy.listed('https://meet.example.com')).toBe(true);
    expect(policy.listed('HTTPS://MEET.EXAMPLE.COM')).toBe(true);
    expect(policy.listed('http://meet.example.com')).toBe(false);
    expect(policy.listed('https://meet.example.com.evil.example')).toBe(false);
    expect(policy.listed('https://rec.example.com')).toBe(false);
    expect(policy.allowed('https://meet.example.com', 'x')).toBe(true);
    expect(policy.allowed('https://evil.example', 'x')).toBe(false);
    expect(policy.restricted).toBe(true);
    expect(createOriginPolicy({ allowedOrigins: [] }).restricted).toBe(false);
  });
});
