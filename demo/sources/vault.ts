import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { Rng } from '../rng.ts';
import type { DemoIncident, DemoSource, DemoSourceOptions } from './demo-source.ts';
import { plusFirstUse, plusOffHours } from './demo-source.ts';

/**
 * HashiCorp Vault audit device traffic (file device, one JSON entry per line, a request and a
 * response entry per call) from one Vault Enterprise cluster that acme's platform team runs:
 * acme's applications use the root namespace, globex and initech each have a namespace of their
 * own. Applications log in with AppRole or Kubernetes auth about once an hour and use transit keys
 * to encrypt, decrypt and make data keys; a key-rotator rotates keys at night; admins log in with
 * userpass and read key configuration. Entries follow the Vault audit log schema
 * (developer.hashicorp.com/vault/docs/audit/schema): tokens, accessors and request data are
 * HMAC'd, as a default audit device writes them. All names, ids and addresses are synthetic.
 */

const MS_HOUR = 3_600_000;
const MS_DAY = 86_400_000;

interface VaultApp {
  /** Display name Vault gives the token: `approle` (role in metadata) or `kubernetes-<ns>-<sa>`. */
  auth: 'approle' | 'kubernetes';
  name: string;
  keys: string[];
  ips: string[];
  /** Transit calls per hour at the daily peak. */
  perHour: number;
  /** Weights of encrypt, decrypt, datakey, sign, verify. */
  mix: [number, number, number, number, number];
  kvPath?: string;
}

interface VaultNamespace {
  tenant: string;
  /** '' for the root namespace, else `name/` as Vault writes it. */
  path: string;
  id: string;
  mount: string;
  mountAccessor: string;
  keys: string[];
  apps: VaultApp[];
  admin: { user: string; ip: string };
}

const NAMESPACES: VaultNamespace[] = [
  {
    tenant: 'acme', path: '', id: 'root', mount: 'transit/', mountAccessor: 'transit_5e2c1a9b', keys: ['orders', 'payments', 'warehouse'],
    apps: [
      { auth: 'approle', name: 'orders-api', keys: ['orders', 'payments'], ips: ['10.20.3.14', '10.20.3.15'], perHour: 10, mix: [4, 5, 1, 0, 0], kvPath: 'secret/data/orders/db' },
      { auth: 'kubernetes', name: 'data-etl-worker', keys: ['warehouse', 'orders'], ips: ['10.20.7.2'], perHour: 6, mix: [2, 5, 3, 0, 0] },
      { auth: 'approle', name: 'checkout', keys: ['payments'], ips: ['10.20.4.30'], perHour: 5, mix: [5, 5, 0, 0, 0] },
    ],
    admin: { user: 'alice', ip: '192.0.2.10' },
  },
  {
    tenant: 'globex', path: 'globex/', id: 'Xq7Lr', mount: 'transit/', mountAccessor: 'transit_77d0e6a2', keys: ['billing', 'ledger', 'code-signing'],
    apps: [
      { auth: 'approle', name: 'billing-batch', keys: ['billing', 'ledger'], ips: ['10.60.1.20', '10.60.1.21'], perHour: 7, mix: [3, 6, 1, 0, 0] },
      { auth: 'approle', name: 'release-signer', keys: ['code-signing'], ips: ['10.60.9.4'], perHour: 2, mix: [0, 0, 0, 3, 1] },
    ],
    admin: { user: 'secops', ip: '192.0.2.44' },
  },
  {
    tenant: 'initech', path: 'initech/', id: 'n3TQa', mount: 'crypto/', mountAccessor: 'transit_3b8f9e10', keys: ['reports', 'hr'],
    apps: [{ auth: 'kubernetes', name: 'tps-tps-reports', keys: ['reports', 'hr'], ips: ['10.90.0.8'], perHour: 4, mix: [3, 6, 1, 0, 0] }],
    admin: { user: 'lumbergh', ip: '192.0.2.77' },
  },
];

/** The ACL policy that grants an application its transit keys: named after the AppRole role or the Kubernetes service account. */
function transitPolicy(app: Pick<VaultApp, 'auth' | 'name'>): string {
  return `${app.auth === 'kubernetes' ? app.name.split('-').slice(1).join('-') : app.name}-transit`;
}

const INCIDENTS = [
  { id: 'vault-denied-decrypt-burst', daysBack: 1, hour: 10, minute: 24, what: 'a Kubernetes service account never seen before (kubernetes-default-debug-shell, new entity) logs in and tries 40 decrypts with globex/transit/ledger in 4 minutes from 10.60.77.201; every one is permission denied' },
  { id: 'vault-transit-key-export', daysBack: 1, hour: 23, minute: 14, what: 'the acme payments transit key is exported (export/encryption-key) and backed up by userpass-contractor-jdoe from 203.0.113.45, late at night' },
  { id: 'vault-audit-device-disabled', daysBack: 0, hour: 2, minute: 3, what: 'the file audit device is disabled (DELETE sys/audit/file) with a root token from 198.51.100.23, and re-enabled 38 minutes later' },
  { id: 'vault-policy-change-night', daysBack: 0, hour: 2, minute: 41, what: 'userpass-lumbergh rewrites the tps-reports-transit ACL policy (which grants the tps-reports service account its transit keys) in the initech namespace at night' },
  { id: 'vault-pinned-old-version', daysBack: 1, hour: 14, minute: 5, what: 'a billing-batch host with a stale client setting keeps encrypting with the previous version of globex/transit/billing (key_version pinned) for an hour, long after the nightly rotation' },
  { id: 'vault-rotator-skips-key', daysBack: 0, hour: 12, minute: 0, what: 'since a change to its key list 11 days before the end, the key-rotator no longer rotates initech/crypto/hr: its material is older than the 7-day cryptoperiod of transit keys while tps-reports keeps using it' },
] as const;

/** The lost key shows only once the demo is longer than the cryptoperiod; shorter demos leave the incident out. */
const MIN_DAYS_FOR_SKIP = 14;

/** The key the key-rotator lost from its list in the `vault-rotator-skips-key` incident, and from when (days before the end). */
const SKIPPED = { ns: 'initech/', key: 'hr', daysBeforeEnd: 11 };

/** Incident time: `daysBack` days before the last day of traffic at a fixed UTC time, kept inside the window. */
function incidentTime(start: Date, days: number, i: { daysBack: number; hour: number; minute: number }): number {
  const startMs = Math.floor(start.getTime() / MS_DAY) * MS_DAY;
  const endMs = startMs + Math.max(1, Math.round(days)) * MS_DAY;
  let at = endMs - MS_DAY - i.daysBack * MS_DAY + i.hour * MS_HOUR + i.minute * 60_000;
  if (at < startMs) at = startMs + i.hour * MS_HOUR + i.minute * 60_000;
  return at;
}

/** RFC3339Nano as Vault writes it (Go trims trailing zeros of the fraction). */
function rfc3339Nano(ms: number, nanos: number): string {
  const iso = new Date(ms).toISOString(); // 2026-10-01T08:17:05.551Z
  const frac = `${iso.slice(20, 23)}${String(nanos).padStart(6, '0')}`.replace(/0+$/, '');
  return `${iso.slice(0, 19)}${frac === '' ? '' : `.${frac}`}Z`;
}

interface Token {
  display_name: string;
  policies: string[];
  metadata?: Record<string, string>;
  entity_id?: string;
  token_type: string;
  token_ttl?: number;
  issued: number;
  clientToken: string;
  accessor: string;
}

interface Call {
  /** Request entry time (ms) and the call's duration (µs). */
  t: number;
  micros: number;
  ns: VaultNamespace | undefined;
  token: Token | undefined;
  operation: string;
  path: string;
  mountPoint?: string;
  mountType: string;
  mountAccessor?: string;
  mountClass: string;
  ip: string;
  data?: Record<string, unknown>;
  respData?: Record<string, unknown>;
  respAuth?: Token;
  error?: string;
  denied?: boolean;
}

class Writer {
  private buf: string[] = [];
  private size = 0;
  constructor(private readonly out: Writable) {}
  async line(s: string): Promise<void> {
    this.buf.push(s);
    this.size += s.length + 1;
    if (this.size >= 1 << 20) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.buf.length === 0) return;
    const chunk = `${this.buf.join('\n')}\n`;
    this.buf = [];
    this.size = 0;
    if (!this.out.write(chunk)) await once(this.out, 'drain');
  }
  async close(): Promise<void> {
    await this.flush();
    this.out.end();
    await once(this.out, 'finish');
  }
}

class Traffic {
  private readonly tokens = new Map<string, Token>();
  private readonly entities = new Map<string, string>();
  constructor(private readonly rng: Rng) {}

  hmac(): string {
    return `hmac-sha256:${this.rng.hex(64)}`;
  }

  entity(name: string): string {
    let id = this.entities.get(name);
    if (!id) {
      id = this.rng.uuid();
      this.entities.set(name, id);
    }
    return id;
  }

  /** The app's current token, renewed by a login call when it is an hour old. */
  appToken(ns: VaultNamespace, app: VaultApp, t: number, calls: Call[]): Token {
    const key = `${ns.path}${app.name}`;
    const cur = this.tokens.get(key);
    if (cur && t - cur.issued < MS_HOUR) return cur;
    const policies = ['default', transitPolicy(app)];
    const metadata: Record<string, string> = app.auth === 'approle'
      ? { role_name: app.name }
      : { role: app.name.split('-').slice(1).join('-'), service_account_name: app.name.split('-').slice(1).join('-'), service_account_namespace: app.name.split('-')[0] as string, service_account_uid: this.entity(`${key}:uid`) };
    const tok: Token = {
      display_name: app.auth === 'approle' ? 'approle' : `kubernetes-${app.name}`,
      policies, metadata, entity_id: this.entity(key), token_type: 'service', token_ttl: 3600, issued: t,
      clientToken: this.hmac(), accessor: this.hmac(),
    };
    this.tokens.set(key, tok);
    const mount = app.auth === 'approle' ? 'auth/approle/' : 'auth/kubernetes/';
    calls.push({
      t: t - 40 - this.rng.int(200), micros: 6_000 + this.rng.int(9_000), ns, token: undefined, operation: 'update', path: `${mount}login`, mountPoint: mount,
      mountType: app.auth, mountAccessor: `auth_${app.auth}_${ns.id.toLowerCase()}`, mountClass: 'auth', ip: this.rng.pick(app.ips),
      data: app.auth === 'approle' ? { role_id: this.hmac(), secret_id: this.hmac() } : { role: this.hmac(), jwt: this.hmac() }, respAuth: tok,
    });
    if (app.kvPath) {
      calls.push({ t: t + 30 + this.rng.int(200), micros: 900 + this.rng.int(1_500), ns, token: tok, operation: 'read', path: app.kvPath, mountPoint: 'secret/', mountType: 'kv', mountAccessor: 'kv_1c2d3e4f', mountClass: 'secret', ip: this.rng.pick(app.ips), respData: { data: { password: this.hmac(), username: this.hmac() }, metadata: { version: 3 } } });
    }
    return tok;
  }

  /** A userpass user's token, with the login call that issued it when it is new. */
  userToken(ns: VaultNamespace, user: string, t: number, policy: string, ip: string, calls: Call[]): Token {
    const key = `${ns.path}user:${user}`;
    const cur = this.tokens.get(key);
    if (cur && t - cur.issued < 8 * MS_HOUR) return cur;
    const tok: Token = {
      display_name: `userpass-${user}`, policies: ['default', policy], metadata: { username: user }, entity_id: this.entity(key),
      token_type: 'service', token_ttl: 28800, issued: t, clientToken: this.hmac(), accessor: this.hmac(),
    };
    this.tokens.set(key, tok);
    calls.push({
      t: t - 2_000 - this.rng.int(20_000), micros: 40_000 + this.rng.int(30_000), ns, token: undefined, operation: 'update', path: `auth/userpass/login/${user}`,
      mountPoint: 'auth/userpass/', mountType: 'userpass', mountAccessor: `auth_userpass_${ns.id.toLowerCase()}`, mountClass: 'auth', ip, data: { password: this.hmac() }, respAuth: tok,
    });
    return tok;
  }

  rootToken(t: number): Token {
    return { display_name: 'root', policies: ['root'], token_type: 'service', issued: t - 120_000, clientToken: this.hmac(), accessor: this.hmac() };
  }

  transit(ns: VaultNamespace, token: Token, t: number, ip: string, op: 'encrypt' | 'decrypt' | 'datakey' | 'sign' | 'verify' | 'rotate' | 'read' | 'list' | 'export' | 'backup', key: string, version: number, extra: Partial<Call> = {}): Call {
    const base = { t, ns, token, mountPoint: ns.mount, mountType: 'transit', mountAccessor: ns.mountAccessor, mountClass: 'secret', ip };
    const micros = 600 + this.rng.int(2_400);
    switch (op) {
      case 'encrypt':
        return { ...base, micros, operation: 'update', path: `${ns.mount}encrypt/${key}`, data: { plaintext: this.hmac(), context: this.hmac() }, respData: { ciphertext: this.hmac(), key_version: version }, ...extra };
      case 'decrypt':
        return { ...base, micros, operation: 'update', path: `${ns.mount}decrypt/${key}`, data: { ciphertext: this.hmac(), context: this.hmac() }, respData: { plaintext: this.hmac() }, ...extra };
      case 'datakey':
        return { ...base, micros: micros + 400, operation: 'update', path: `${ns.mount}datakey/wrapped/${key}`, data: { bits: 256 }, respData: { ciphertext: this.hmac(), key_version: version }, ...extra };
      case 'sign':
        return { ...base, micros: micros + 1_500, operation: 'update', path: `${ns.mount}sign/${key}/sha2-256`, data: { input: this.hmac() }, respData: { signature: this.hmac(), key_version: version }, ...extra };
      case 'verify':
        return { ...base, micros, operation: 'update', path: `${ns.mount}verify/${key}`, data: { input: this.hmac(), signature: this.hmac() }, respData: { valid: true }, ...extra };
      case 'rotate':
        return { ...base, micros: micros + 5_000, operation: 'update', path: `${ns.mount}keys/${key}/rotate`, respData: { name: key, latest_version: version, type: 'aes256-gcm96', deletion_allowed: false, exportable: false }, ...extra };
      case 'read':
        return { ...base, micros, operation: 'read', path: `${ns.mount}keys/${key}`, respData: { name: key, latest_version: version, type: 'aes256-gcm96', deletion_allowed: false, exportable: key === 'payments', auto_rotate_period: 0 }, ...extra };
      case 'list':
        return { ...base, micros, operation: 'list', path: `${ns.mount}keys/`, respData: { keys: ns.keys.map(() => this.hmac()) }, ...extra };
      case 'export':
        return { ...base, micros: micros + 800, operation: 'read', path: `${ns.mount}export/encryption-key/${key}`, respData: { name: key, type: 'aes256-gcm96', keys: { [String(version)]: this.hmac() } }, ...extra };
      case 'backup':
        return { ...base, micros: micros + 1_200, operation: 'read', path: `${ns.mount}backup/${key}`, respData: { backup: this.hmac() }, ...extra };
    }
  }
}

function authBlock(tok: Token | undefined, c: Call): Record<string, unknown> {
  if (!tok) return { policy_results: { allowed: true } };
  const a: Record<string, unknown> = {
    client_token: tok.clientToken, accessor: tok.accessor, display_name: tok.display_name, policies: tok.policies, token_policies: tok.policies,
  };
  if (tok.metadata) a.metadata = tok.metadata;
  if (tok.entity_id) a.entity_id = tok.entity_id;
  a.token_type = tok.token_type;
  if (tok.token_ttl) a.token_ttl = tok.token_ttl;
  a.token_issue_time = new Date(tok.issued).toISOString().replace(/\.\d{3}Z$/, 'Z');
  a.policy_results = c.denied ? { allowed: false } : { allowed: true, granting_policies: [{ name: tok.policies[tok.policies.length - 1], namespace_id: c.ns?.id ?? 'root', type: 'acl' }] };
  return a;
}

function requestBlock(c: Call, id: string): Record<string, unknown> {
  const r: Record<string, unknown> = { id, operation: c.operation };
  // A denied call never reaches the router: its entries have the mount type but no mount point.
  if (c.mountPoint && !c.denied) r.mount_point = c.mountPoint;
  r.mount_type = c.mountType;
  if (c.mountAccessor && !c.denied) r.mount_accessor = c.mountAccessor;
  if (!c.denied) {
    r.mount_running_version = c.mountType === 'system' ? 'v1.19.3+builtin.vault' : 'v1.19.3+builtin';
    r.mount_class = c.mountClass;
  }
  if (c.token) {
    r.client_token = c.token.clientToken;
    r.client_token_accessor = c.token.accessor;
  }
  r.namespace = c.ns && c.ns.path !== '' ? { id: c.ns.id, path: c.ns.path } : { id: 'root' };
  r.path = c.path;
  if (c.data) r.data = c.data;
  r.remote_address = c.ip;
  r.remote_port = 30000 + (id.charCodeAt(0) * 97 + id.charCodeAt(1)) % 30000;
  return r;
}

function entries(c: Call, id: string): { t: number; line: string }[] {
  // Nanoseconds within the millisecond, varied but fixed by the call's time.
  const reqNanos = ((c.t % 1_000_003) * 7919) % 1_000_000;
  const total = reqNanos + c.micros * 1000;
  const endMs = c.t + Math.floor(total / 1_000_000);
  const reqTime = rfc3339Nano(c.t, reqNanos);
  const respTime = rfc3339Nano(endMs, total % 1_000_000);
  const errorText = c.denied ? '1 error occurred:\n\t* permission denied\n\n' : c.error;
  const req: Record<string, unknown> = { time: reqTime, auth: authBlock(c.token, c) };
  if (c.denied) req.error = errorText;
  req.request = requestBlock(c, id);
  req.type = 'request';
  const resp: Record<string, unknown> = { time: respTime, auth: c.respAuth ? { ...authBlock(c.respAuth, c), policy_results: { allowed: true } } : authBlock(c.token, c) };
  if (errorText) resp.error = errorText;
  resp.request = requestBlock(c, id);
  const response: Record<string, unknown> = {};
  if (c.mountPoint && !c.denied) {
    response.mount_point = c.mountPoint;
    response.mount_type = c.mountType;
    response.mount_accessor = c.mountAccessor;
  }
  if (c.respAuth) response.auth = authBlock(c.respAuth, c);
  if (errorText) response.data = { error: `hmac-sha256:${id.replace(/-/g, '')}${id.replace(/-/g, '').slice(0, 32)}` };
  else if (c.respData) response.data = c.respData;
  resp.response = response;
  resp.type = 'response';
  return [
    { t: c.t, line: JSON.stringify(req) },
    { t: endMs, line: JSON.stringify(resp) },
  ];
}

/** The calls of one day, incidents included when asked. */
function dayCalls(dayStart: number, rng: Rng, tr: Traffic, scale: number, budgeted: boolean, incidents: boolean, start: Date, days: number, versions: Map<string, number>): Call[] {
  const calls: Call[] = [];
  const dow = new Date(dayStart).getUTCDay();
  // With a record budget (bench) every day is a weekday, so that the budget spreads evenly.
  const weekend = (dow === 0 || dow === 6) && !budgeted;
  const version = (ns: VaultNamespace, key: string) => versions.get(`${ns.path}${key}`) ?? 1;
  for (let h = 0; h < 24; h++) {
    const hourStart = dayStart + h * MS_HOUR;
    // Business traffic peaks mid-day on weekdays; nights and weekends run at a third.
    const diurnal = (weekend ? 0.35 : 1) * (0.3 + 0.7 * Math.exp(-((h - 13) ** 2) / 18));
    for (const ns of NAMESPACES) {
      for (const app of ns.apps) {
        const expected = app.perHour * diurnal * scale;
        let n = Math.floor(expected);
        if (rng.next() < expected - n) n++;
        const times = Array.from({ length: n }, () => hourStart + rng.int(MS_HOUR)).sort((a, b) => a - b);
        for (const t of times) {
          const tok = tr.appToken(ns, app, t, calls);
          const key = rng.pick(app.keys);
          const op = rng.weighted([['encrypt', app.mix[0]], ['decrypt', app.mix[1]], ['datakey', app.mix[2]], ['sign', app.mix[3]], ['verify', app.mix[4]]] as const);
          const ip = rng.pick(app.ips);
          // About one decrypt in 300 carries a ciphertext the key cannot open.
          const failed = op === 'decrypt' && rng.next() < 1 / 300;
          calls.push(tr.transit(ns, tok, t, ip, op, key, version(ns, key), failed ? { error: '1 error occurred:\n\t* invalid request\n\n' } : {}));
        }
      }
      // An admin looks at key configuration a few times on a weekday.
      if (!weekend && h >= 9 && h <= 17 && rng.next() < 0.25 * Math.min(1, scale)) {
        const t = hourStart + rng.int(MS_HOUR);
        const tok = tr.userToken(ns, ns.admin.user, t, 'transit-admin', ns.admin.ip, calls);
        calls.push(tr.transit(ns, tok, t, ns.admin.ip, 'list', '', 0));
        const key = rng.pick(ns.keys);
        calls.push(tr.transit(ns, tok, t + 4_000 + rng.int(20_000), ns.admin.ip, 'read', key, version(ns, key)));
      }
    }
    // The key rotator runs every night at 03:xx in every namespace and rotates the namespace's
    // keys in turn, one a night (each key every two or three days; signing keys are not rotated):
    // the platform team's 7-day cryptoperiod for transit keys, kept with room to spare.
    if (h === 3) {
      const dayIndex = Math.floor(dayStart / MS_DAY);
      for (const ns of NAMESPACES) {
        const lost = incidents && days >= MIN_DAYS_FOR_SKIP && dayStart >= skipFrom(start, days);
        const keys = ns.keys.filter((k) => k !== 'code-signing' && !(lost && ns.path === SKIPPED.ns && k === SKIPPED.key));
        const key = keys[dayIndex % keys.length] as string;
        const v = version(ns, key) + 1;
        versions.set(`${ns.path}${key}`, v);
        const app: VaultApp = { auth: 'approle', name: 'key-rotator', keys: [key], ips: ['10.0.5.5'], perHour: 0, mix: [0, 0, 0, 0, 0] };
        const t = hourStart + 60_000 + rng.int(600_000);
        calls.push(tr.transit(ns, tr.appToken(ns, app, t, calls), t + 1_000, '10.0.5.5', 'rotate', key, v));
      }
    }
  }
  if (incidents) calls.push(...incidentCalls(dayStart, rng, tr, start, days, versions));
  return calls;
}

/** The first day the key-rotator skips the lost key (UTC midnight). */
function skipFrom(start: Date, days: number): number {
  const startMs = Math.floor(start.getTime() / MS_DAY) * MS_DAY;
  return startMs + Math.max(0, Math.round(days) - SKIPPED.daysBeforeEnd) * MS_DAY;
}

function incidentCalls(dayStart: number, rng: Rng, tr: Traffic, start: Date, days: number, versions: Map<string, number>): Call[] {
  const calls: Call[] = [];
  const ns = (tenant: string) => NAMESPACES.find((n) => n.tenant === tenant) as VaultNamespace;
  const [burst, exportKey, auditOff, policyNight, pinned] = INCIDENTS;
  const inDay = (t: number) => t >= dayStart && t < dayStart + MS_DAY;
  const sys = (c: Omit<Call, 'mountPoint' | 'mountType' | 'mountAccessor' | 'mountClass'>): Call => ({ ...c, mountPoint: 'sys/', mountType: 'system', mountAccessor: 'system_f3a9c10d', mountClass: 'secret' });
  {
    const t0 = incidentTime(start, days, burst);
    if (inDay(t0)) {
      const g = ns('globex');
      const tok: Token = {
        display_name: 'kubernetes-default-debug-shell', policies: ['default'], metadata: { role: 'default', service_account_name: 'debug-shell', service_account_namespace: 'default', service_account_uid: rng.uuid() },
        entity_id: rng.uuid(), token_type: 'service', token_ttl: 3600, issued: t0 - 30_000, clientToken: tr.hmac(), accessor: tr.hmac(),
      };
      // The pod logs in with the namespace's default role, which carries no transit policy.
      calls.push({
        t: t0 - 30_000, micros: 8_000, ns: g, token: undefined, operation: 'update', path: 'auth/kubernetes/login', mountPoint: 'auth/kubernetes/',
        mountType: 'kubernetes', mountAccessor: `auth_kubernetes_${g.id.toLowerCase()}`, mountClass: 'auth', ip: '10.60.77.201', data: { role: tr.hmac(), jwt: tr.hmac() }, respAuth: tok,
      });
      for (let i = 0; i < 40; i++) calls.push(tr.transit(g, tok, t0 + i * 6_000 + rng.int(3_000), '10.60.77.201', 'decrypt', 'ledger', 1, { denied: true, micros: 200 + rng.int(300) }));
    }
  }
  {
    const t0 = incidentTime(start, days, exportKey);
    if (inDay(t0)) {
      const a = ns('acme');
      const tok = tr.userToken(a, 'contractor-jdoe', t0 - 60_000, 'transit-admin', '203.0.113.45', calls);
      calls.push(tr.transit(a, tok, t0, '203.0.113.45', 'read', 'payments', 1));
      calls.push(tr.transit(a, tok, t0 + 20_000, '203.0.113.45', 'export', 'payments', 1));
      calls.push(tr.transit(a, tok, t0 + 75_000, '203.0.113.45', 'backup', 'payments', 1));
    }
  }
  {
    const t0 = incidentTime(start, days, auditOff);
    if (inDay(t0)) {
      const root = tr.rootToken(t0);
      calls.push(sys({ t: t0, micros: 9_000, ns: undefined, token: root, operation: 'delete', path: 'sys/audit/file', ip: '198.51.100.23' }));
      calls.push(sys({ t: t0 + 38 * 60_000, micros: 15_000, ns: undefined, token: root, operation: 'update', path: 'sys/audit/file', ip: '198.51.100.23', data: { type: tr.hmac(), options: { file_path: tr.hmac() } } }));
    }
  }
  {
    const t0 = incidentTime(start, days, policyNight);
    if (inDay(t0)) {
      const i = ns('initech');
      const tok = tr.userToken(i, 'lumbergh', t0 - 120_000, 'namespace-admin', i.admin.ip, calls);
      const app = i.apps[0] as VaultApp;
      calls.push(sys({ t: t0, micros: 6_000, ns: i, token: tok, operation: 'update', path: `sys/policies/acl/${transitPolicy(app)}`, ip: i.admin.ip, data: { policy: tr.hmac() } }));
    }
  }
  {
    const t0 = incidentTime(start, days, pinned);
    const g = ns('globex');
    const current = versions.get(`${g.path}billing`) ?? 1;
    // Only once the key has a previous version to pin.
    if (inDay(t0) && current > 1) {
      const app = g.apps.find((a) => a.name === 'billing-batch') as VaultApp;
      // The client sends key_version, which Vault honours down to min_encryption_version.
      for (let i = 0; i < 30; i++) {
        const t = t0 + i * 120_000 + rng.int(60_000);
        calls.push(tr.transit(g, tr.appToken(g, app, t, calls), t, '10.60.1.21', 'encrypt', 'billing', current - 1, { data: { plaintext: tr.hmac(), context: tr.hmac(), key_version: current - 1 } }));
      }
    }
  }
  return calls;
}

/** Writes one `vault-audit-<date>.log` per day; with `records`, about that many entries spread over the days. */
async function write(o: DemoSourceOptions): Promise<{ files: string[]; records: number }> {
  const rng = new Rng(o.seed ^ 0x5a17);
  const tr = new Traffic(rng);
  const startMs = Math.floor(o.start.getTime() / MS_DAY) * MS_DAY;
  const days = Math.max(1, Math.round(o.days));
  // About 1,000 entries a day at scale 1 (measured: 6,802 over a week of demo traffic), of which
  // about 800 come from application calls, the part that scales. With a record budget the rate is
  // set well above it and each day thinned to its share, so that quiet days do not leave the total
  // short.
  const scale = o.records === undefined ? 1 : Math.max(0.05, (1.5 * o.records) / (days * 800));
  const versions = new Map<string, number>();
  const files: string[] = [];
  let records = 0;
  for (let d = 0; d < days; d++) {
    if (o.records !== undefined && records >= o.records) break;
    const dayStart = startMs + d * MS_DAY;
    const calls = dayCalls(dayStart, rng, tr, scale, o.records !== undefined, o.incidents && o.records === undefined, o.start, days, versions);
    // Each day's share of what the budget still leaves. A day with more calls keeps an evenly
    // spaced selection of them (both entries of a call go together).
    const budget = o.records === undefined ? Infinity : Math.ceil((o.records - records) / (days - d));
    const wanted = Math.ceil(budget / 2);
    const kept = wanted >= calls.length ? calls : Array.from({ length: wanted }, (_, i) => calls[Math.floor((i * calls.length) / wanted)] as Call);
    const lines = kept.flatMap((c) => entries(c, rng.uuid())).sort((a, b) => a.t - b.t);
    const path = join(o.dir, `vault-audit-${new Date(dayStart).toISOString().slice(0, 10)}.log`);
    const out = new Writer(createWriteStream(path));
    let n = 0;
    for (const l of lines) {
      if (n >= budget) break;
      await out.line(l.line);
      n++;
    }
    await out.close();
    files.push(path);
    records += n;
  }
  return { files, records };
}

/** Vault namespace (account) -> demo tenant. */
const TENANTS: Record<string, string> = { root: 'acme', globex: 'globex', initech: 'initech' };

export const vaultDemo: DemoSource = {
  source: 'vault',
  tenants: TENANTS,
  write,
  incidents: (o): DemoIncident[] =>
    INCIDENTS.filter((i) => i.id !== 'vault-rotator-skips-key' || o.days >= MIN_DAYS_FOR_SKIP).map((i) => {
      const at = new Date(incidentTime(o.start, o.days, i)).toISOString();
      return { id: i.id, at, what: i.what, expect: EXPECT[i.id](at, o.start) };
    }),
};

/** What should catch each incident (keywatch evaluate). */
const EXPECT: Record<(typeof INCIDENTS)[number]['id'], (at: string, start: Date) => NonNullable<DemoIncident['expect']>> = {
  'vault-denied-decrypt-burst': (at, start) => ({ detectors: plusFirstUse(at, start, ['failure-spike']), tenant: 'globex', principal: 'kubernetes-default-debug-shell' }),
  // Export and backup are administrative (admin-off-hours); Vault has no detector of its own for key export.
  'vault-transit-key-export': (at) => ({ detectors: plusOffHours(at, []), tenant: 'acme', principal: 'contractor' }),
  'vault-audit-device-disabled': (at) => ({ detectors: plusOffHours(at, ['hsm-admin-operation']), principal: 'root' }),
  'vault-policy-change-night': (at) => ({ detectors: plusOffHours(at, ['policy-widened']), tenant: 'initech', principal: 'lumbergh' }),
  'vault-pinned-old-version': () => ({ detectors: ['old-version-after-rotation'], tenant: 'globex', principal: 'billing-batch', key_id: 'globex/transit/billing' }),
  // A state detector: its alert is dated by the key's latest use, on the last day.
  'vault-rotator-skips-key': () => ({ detectors: ['rotation-overdue'], tenant: 'initech', key_id: 'initech/crypto/hr', windowMinutes: 12 * 60 }),
};
