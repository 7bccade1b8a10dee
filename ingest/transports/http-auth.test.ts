import { timingSafeEqual } from 'node:crypto';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { Config } from '../../core/config.ts';
import { httpTokens, tenantEnvName, tokenTable } from './http-auth.ts';

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const ACME = 'acme-0123456789abcdef';
const GLOBEX = 'globex-a-much-longer-token-0123456789-0123456789';
const table = () =>
  tokenTable([
    { tenant: 'acme', token: ACME },
    { tenant: 'globex', token: GLOBEX },
  ]);

describe('HTTP token table', () => {
  beforeEach(() => {
    vi.mocked(timingSafeEqual).mockClear();
  });

  it('returns the tenant a valid bearer token belongs to, whatever the case of the scheme', () => {
    expect(table().check(`Bearer ${ACME}`)).toEqual({ ok: true, tenant: 'acme' });
    expect(table().check(`bearer ${GLOBEX}`)).toEqual({ ok: true, tenant: 'globex' });
  });

  it('tells a missing header from a malformed one and from an unknown token', () => {
    const t = table();
    expect(t.check(undefined)).toEqual({ ok: false, reason: 'missing' });
    expect(t.check('  ')).toEqual({ ok: false, reason: 'missing' });
    expect(t.check(`Basic ${Buffer.from(`acme:${ACME}`).toString('base64')}`)).toEqual({ ok: false, reason: 'malformed' });
    expect(t.check('Bearer')).toEqual({ ok: false, reason: 'malformed' });
    expect(t.check(`Bearer ${ACME}x`)).toEqual({ ok: false, reason: 'invalid' });
    expect(t.check(`Bearer ${ACME.slice(0, -1)}`)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('compares SHA-256 digests in constant time against every entry, so tokens of any length never throw', () => {
    const t = table();
    for (const presented of ['x', ACME.slice(0, 5), 'y'.repeat(10_000), ACME, GLOBEX]) {
      vi.mocked(timingSafeEqual).mockClear();
      expect(() => t.check(`Bearer ${presented}`)).not.toThrow();
      // Both entries are compared even when the first one matches: no early exit to time.
      expect(timingSafeEqual).toHaveBeenCalledTimes(2);
      for (const [a, b] of vi.mocked(timingSafeEqual).mock.calls) {
        expect((a as Buffer).length).toBe(32);
        expect((b as Buffer).length).toBe(32);
      }
    }
  });

  it('refuses short tokens, tokens with spaces, and one token shared by two tenants, without printing the token', () => {
    expect(() => tokenTable([{ tenant: 'acme', token: 'short' }])).toThrow(/tenant acme is shorter than 16 characters/);
    expect(() => tokenTable([{ tenant: 'acme', token: 'has a space in it, sadly' }])).toThrow(/spaces or characters outside printable ASCII/);
    let message = '';
    try {
      tokenTable([
        { tenant: 'acme', token: ACME },
        { tenant: 'globex', token: ACME },
      ]);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/configured for two tenants \(acme and globex\)/);
    expect(message).not.toContain(ACME);
  });

  it('accepts two tokens for one tenant, for rotation', () => {
    const t = tokenTable([
      { tenant: 'acme', token: ACME },
      { tenant: 'acme', token: `${ACME}-next` },
    ]);
    expect(t.size).toBe(2);
    expect(t.check(`Bearer ${ACME}-next`)).toEqual({ ok: true, tenant: 'acme' });
  });
});

describe('HTTP tokens from the environment', () => {
  const config = Config.parse({ tenants: { '111122223333': 'acme_eu' }, http: { tokens: [{ tenant: 'globex', token: GLOBEX }] } });

  it('adds KEYWATCH_HTTP_TOKEN_<TENANT> to the configured tokens, resolving the name to a tenant the config knows', () => {
    const tokens = httpTokens(config, {
      KEYWATCH_HTTP_TOKEN_ACME_EU: 'acme-eu-token-0123456789',
      KEYWATCH_HTTP_TOKEN_INITECH_US: 'initech-us-token-0123456789',
      KEYWATCH_HTTP_TOKEN_EMPTY: '',
      KEYWATCH_OTHER: 'ignored',
    });
    expect(tokens).toEqual([
      { tenant: 'globex', token: GLOBEX },
      { tenant: 'acme_eu', token: 'acme-eu-token-0123456789' },
      { tenant: 'initech-us', token: 'initech-us-token-0123456789' },
    ]);
    expect(tokenTable(tokens).check('Bearer initech-us-token-0123456789')).toEqual({ ok: true, tenant: 'initech-us' });
  });

  it('names the variable after the tenant upper-cased with - as _', () => {
    expect(tenantEnvName('acme-eu')).toBe('ACME_EU');
  });

  it('refuses a variable whose tenant part is not upper-case', () => {
    expect(() => httpTokens(config, { KEYWATCH_HTTP_TOKEN_acme: 'acme-token-0123456789' })).toThrow(/KEYWATCH_HTTP_TOKEN_acme: the tenant part/);
  });
});
