import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../../core/config.ts';
import { KeywatchError } from '../../core/errors.ts';

/** One bearer token and the tenant whose events it may send. */
export interface TenantToken {
  tenant: string;
  token: string;
}

export type TokenCheck = { ok: true; tenant: string } | { ok: false; reason: 'missing' | 'malformed' | 'invalid' };

/**
 * The HTTP collector's bearer tokens. Only SHA-256 digests are kept; a presented token is hashed
 * and compared with every entry through `timingSafeEqual`, without stopping at a match, so neither
 * the token's length nor its position in the table shows in the response time.
 *
 * @example tokenTable([{ tenant: 'acme', token: 'a-long-random-secret' }]).check('Bearer a-long-random-secret') // { ok: true, tenant: 'acme' }
 */
export interface TokenTable {
  /** Number of configured tokens. */
  readonly size: number;
  /** Checks an `Authorization` header value. */
  check(authorization: string | undefined): TokenCheck;
}

const MIN_TOKEN_LENGTH = 16;
const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export function tokenTable(tokens: readonly TenantToken[]): TokenTable {
  const entries: { tenant: string; digest: Buffer }[] = [];
  for (const t of tokens) {
    if (t.token.length < MIN_TOKEN_LENGTH) {
      throw new KeywatchError('CONFIG_INVALID', `the HTTP token of tenant ${t.tenant} is shorter than ${MIN_TOKEN_LENGTH} characters`);
    }
    if (!/^[\x21-\x7e]+$/.test(t.token)) {
      // A bearer token travels in a header: visible ASCII only, no spaces (RFC 6750 section 2.1).
      throw new KeywatchError('CONFIG_INVALID', `the HTTP token of tenant ${t.tenant} holds spaces or characters outside printable ASCII`);
    }
    const d = digest(t.token);
    const same = entries.find((e) => e.digest.equals(d));
    if (same && same.tenant !== t.tenant) {
      throw new KeywatchError('CONFIG_INVALID', `one HTTP token is configured for two tenants (${same.tenant} and ${t.tenant}); a token must fix one tenant`);
    }
    if (!same) entries.push({ tenant: t.tenant, digest: d });
  }
  return {
    size: entries.length,
    check(authorization) {
      if (authorization === undefined || authorization.trim() === '') return { ok: false, reason: 'missing' };
      // RFC 6750 section 2.1: `Bearer` (case-insensitive), one or more spaces, the token.
      const m = /^Bearer +(\S+) *$/i.exec(authorization);
      if (!m) return { ok: false, reason: 'malformed' };
      const presented = digest(m[1] as string);
      let tenant: string | undefined;
      for (const e of entries) {
        if (timingSafeEqual(e.digest, presented) && tenant === undefined) tenant = e.tenant;
      }
      return tenant === undefined ? { ok: false, reason: 'invalid' } : { ok: true, tenant };
    },
  };
}

const ENV_PREFIX = 'KEYWATCH_HTTP_TOKEN_';

/** A tenant name as it appears in an environment variable name: upper-cased, `-` as `_`. */
export function tenantEnvName(tenant: string): string {
  return tenant.toUpperCase().replace(/-/g, '_');
}

/**
 * The tokens of `http.tokens` plus those given as KEYWATCH_HTTP_TOKEN_<TENANT>=<token>. The
 * variable names the tenant upper-cased with `-` as `_`; it resolves to a tenant the configuration
 * already names (http.tokens, tenants, defaultTenant) whose name gives the same variable, else to
 * the name lower-cased with `_` as `-`. Empty variables are ignored.
 *
 * @example httpTokens(config, { KEYWATCH_HTTP_TOKEN_ACME_EU: 'a-long-random-secret' }) // [..., { tenant: 'acme-eu', token: ... }]
 */
export function httpTokens(config: Pick<Config, 'http' | 'tenants' | 'defaultTenant'>, env: NodeJS.ProcessEnv): TenantToken[] {
  const known = new Map<string, string>();
  for (const t of [config.defaultTenant, ...Object.values(config.tenants), ...config.http.tokens.map((x) => x.tenant)]) {
    const name = tenantEnvName(t);
    if (!known.has(name)) known.set(name, t);
  }
  const out: TenantToken[] = [...config.http.tokens];
  for (const [key, value] of Object.entries(env).sort(([a], [b]) => a.localeCompare(b))) {
    if (!key.startsWith(ENV_PREFIX) || !value) continue;
    const suffix = key.slice(ENV_PREFIX.length);
    if (!/^[A-Z0-9_]+$/.test(suffix)) {
      throw new KeywatchError('CONFIG_INVALID', `${key}: the tenant part of the name must be upper-case letters, digits and _`);
    }
    out.push({ tenant: known.get(suffix) ?? suffix.toLowerCase().replace(/_/g, '-'), token: value });
  }
  return out;
}
