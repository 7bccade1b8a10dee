import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { Rng } from '../rng.ts';
import type { DemoIncident, DemoSource, DemoSourceOptions } from './demo-source.ts';
import { plusFirstUse, plusOffHours } from './demo-source.ts';

/**
 * Synthetic Thales Luna audit traffic for `keywatch demo` and bench/ingest, in the layouts the
 * luna-hsm collector reads (ingest/luna-hsm/README.md):
 *  - acme runs an HA pair of Luna Network HSM 7 appliances whose audit records an rsyslog relay
 *    forwards as RFC 5424 (a TDE database and a PKI signer as crypto users; a crypto officer
 *    rotates the TDE key every night);
 *  - initech has one appliance logging RFC 3164 (a report signer);
 *  - globex uses a DPoD Luna Cloud HSM service, exported daily through the Audit Query API
 *    (gzip NDJSON): two application clients and an admin client.
 * Applications work in sessions: open, log in, a few operations, log out, close. Every HSM numbers
 * its records without gaps. Values are synthetic (private 10.x addresses, 203.0.113.0/24 outsiders).
 */

const MS_MIN = 60_000;
const MS_HOUR = 3_600_000;
const MS_DAY = 86_400_000;

interface App {
  name: string;
  role: 'CU' | 'CO' | 'SO';
  /** Luna access id (application id high:low). */
  access: string;
  /** Crypto operations of one session, with their weights. */
  ops: readonly (readonly [string, number])[];
  keys: readonly number[];
  sessionsPerDay: number;
}

interface Appliance {
  serial: string;
  tenant: string;
  host: string;
  header: '5424' | '3164';
  firstRecord: number;
  apps: readonly App[];
}

interface DpodClient {
  actor: string;
  ip: string;
  role: 'CU' | 'CO';
  ops: readonly (readonly [string, number])[];
  ouids: readonly string[];
  sessionsPerDay: number;
}

interface DpodService {
  id: string;
  tenant: string;
  tenantId: string;
  partition: string;
  hsmid: string;
  clients: readonly DpodClient[];
}

const ROLE_ID = { CO: 0, SO: 1, CU: 5 } as const;

export const LUNA_DEMO_APPLIANCES: readonly Appliance[] = [
  {
    serial: '1520101',
    tenant: 'acme',
    host: 'acme-luna-a',
    header: '5424',
    firstRecord: 48_210,
    apps: [
      { name: 'orders-tde', role: 'CU', access: '2147483651:3120', ops: [['LUNA_DECRYPT', 6], ['LUNA_ENCRYPT', 3], ['LUNA_UNWRAP_KEY', 1]], keys: [2001, 2002], sessionsPerDay: 20 },
      { name: 'pki-signer', role: 'CU', access: '2147483652:4410', ops: [['LUNA_SIGN', 5], ['LUNA_FIND_OBJECTS', 1]], keys: [2101], sessionsPerDay: 10 },
    ],
  },
  {
    serial: '1520102',
    tenant: 'acme',
    host: 'acme-luna-b',
    header: '5424',
    firstRecord: 47_996,
    apps: [
      { name: 'orders-tde', role: 'CU', access: '2147483651:3121', ops: [['LUNA_DECRYPT', 6], ['LUNA_ENCRYPT', 3]], keys: [2001, 2002], sessionsPerDay: 16 },
      { name: 'pki-signer', role: 'CU', access: '2147483652:4411', ops: [['LUNA_SIGN', 5], ['LUNA_VERIFY', 1]], keys: [2101], sessionsPerDay: 8 },
    ],
  },
  {
    serial: '1530201',
    tenant: 'initech',
    host: 'initech-luna-1',
    header: '3164',
    firstRecord: 9_120,
    apps: [{ name: 'tps-signing', role: 'CU', access: '2147483651:770', ops: [['LUNA_SIGN', 4], ['LUNA_VERIFY', 2], ['LUNA_GET_ATTRIBUTE_VALUE', 1]], keys: [301, 302], sessionsPerDay: 20 }],
  },
];

export const LUNA_DEMO_DPOD: readonly DpodService[] = [
  {
    id: 'a3c5e7f9-1b2d-4f68-9a0c-2e4f6a8c0b1d',
    tenant: 'globex',
    tenantId: 'e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b',
    partition: '1522001001101',
    hsmid: '604118',
    clients: [
      { actor: '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9', ip: '10.60.1.20', role: 'CU', ops: [['LUNA_DECRYPT', 5], ['LUNA_ENCRYPT', 2]], ouids: ['2a0100001d000000fe5c0400', '2b0100001d000000fe5c0400'], sessionsPerDay: 18 },
      { actor: '6f7a8b9c-0d1e-4f2a-b3c4-d5e6f7a8b9c0', ip: '10.60.1.21', role: 'CU', ops: [['LUNA_SIGN', 3], ['LUNA_VERIFY', 1]], ouids: ['3c0100001d000000fe5c0400'], sessionsPerDay: 12 },
    ],
  },
];

const DPOD_ADMIN = { actor: '7a8b9c0d-1e2f-4a3b-c4d5-e6f7a8b9c0d1', ip: '10.60.9.4', role: 'CO' as const };
const INTRUDER = { actor: '0badc0de-4a1b-4c2d-8e3f-5a6b7c8d9e0f', ip: '203.0.113.45' };

/** Relative weight of activity by UTC hour. */
const DIURNAL = [0.2, 0.15, 0.15, 0.15, 0.2, 0.3, 0.5, 0.9, 1.3, 1.6, 1.7, 1.6, 1.4, 1.6, 1.7, 1.6, 1.4, 1.1, 0.8, 0.6, 0.45, 0.35, 0.3, 0.25];

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** One HSM event before its record number is known. */
interface AuditOp {
  at: number;
  op: string;
  role: 'CU' | 'CO' | 'SO';
  access: string;
  session: number;
  rc?: readonly [string, string];
  handle?: number;
}

interface DpodOp {
  at: number;
  action: string;
  actor: string;
  ip: string;
  role: string;
  status?: string;
  ouid?: string;
}

const OK = ['RC_OK', '0x00000000'] as const;
const PIN_INCORRECT = ['RC_PIN_INCORRECT', '0x000000a0'] as const;

/** A Luna audit record as the appliance writes it: `<number>,<MM/DD/YY hh:mm:ss>,<message>`. */
export function auditRecord(serial: string, seq: number, o: AuditOp): string {
  const d = new Date(o.at);
  const when = `${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/${pad(d.getUTCFullYear() % 100)} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  const [rc, hex] = o.rc ?? OK;
  const handle = o.handle === undefined ? '' : ` using key handle(${o.handle})`;
  return `${seq},${when},S/N ${serial} session ${o.session} Access ${o.access} ${o.role}(${ROLE_ID[o.role]}) operation ${o.op} returned ${rc}(${hex})${handle}`;
}

/** The record as its syslog relay forwards it. */
export function syslogLine(a: Appliance, seq: number, o: AuditOp): string {
  const d = new Date(o.at);
  const record = auditRecord(a.serial, seq, o);
  if (a.header === '5424') return `<134>1 ${new Date(o.at + 40).toISOString()} ${a.host} luna-audit - - - ${record}`;
  return `<134>${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${a.host} luna-audit: ${record}`;
}

function dpodLine(s: DpodService, o: DpodOp, rng: Rng): string {
  const t = new Date(o.at).toISOString();
  const meta: Record<string, string> = { clientip: o.ip, hsmid: s.hsmid, partid: s.partition, role: o.role };
  if (o.ouid) meta.ouid = o.ouid;
  return JSON.stringify({
    time: `${t.slice(0, 10)} ${t.slice(11, 19)} UTC`,
    source: `thales/cloudhsm/${s.partition}`,
    resourceID: s.id,
    actorID: o.actor,
    tenantID: s.tenantId,
    action: o.action,
    status: o.status ?? 'LUNA_RET_OK',
    traceID: rng.hex(43),
    meta: JSON.stringify(meta),
  });
}

function hourOfDay(rng: Rng): number {
  return rng.weighted(DIURNAL.map((w, h) => [h, w] as const));
}

/**
 * Incident times, counted back from the last day of traffic (the first day of a short demo when it
 * has too few days), so that detectors that judge against history (routine night work, first use)
 * have the days before them.
 */
function incidentTimes(start: Date, days: number) {
  const back = (n: number) => start.getTime() + Math.max(0, days - 1 - n) * MS_DAY;
  return {
    loginFailures: back(2) + 3 * MS_HOUR + 12 * MS_MIN,
    recordGap: back(3) + 11 * MS_HOUR,
    cloneAtNight: back(1) + 2 * MS_HOUR + 40 * MS_MIN,
    unknownClient: back(1) + 22 * MS_HOUR + 5 * MS_MIN,
  };
}

/** One day of one appliance: its sessions and admin work, in time order. */
function applianceDay(a: Appliance, dayStart: number, rng: Rng, incidents: boolean, times: ReturnType<typeof incidentTimes>): AuditOp[] {
  const ops: AuditOp[] = [];
  let session = 1 + rng.int(40);
  for (const app of a.apps) {
    for (let i = 0; i < app.sessionsPerDay; i++) {
      let at = dayStart + hourOfDay(rng) * MS_HOUR + rng.int(MS_HOUR - 5 * MS_MIN);
      const s = session++;
      const step = () => (at += 50 + rng.int(900));
      ops.push({ at, op: 'LUNA_OPEN_SESSION', role: app.role, access: app.access, session: s });
      ops.push({ at: step(), op: 'LUNA_LOGIN', role: app.role, access: app.access, session: s });
      const n = 2 + rng.int(5);
      for (let k = 0; k < n; k++) ops.push({ at: step(), op: rng.weighted(app.ops), role: app.role, access: app.access, session: s, handle: rng.pick(app.keys) });
      ops.push({ at: step(), op: 'LUNA_LOGOUT', role: app.role, access: app.access, session: s });
      ops.push({ at: step(), op: 'LUNA_CLOSE_SESSION', role: app.role, access: app.access, session: s });
    }
  }
  // The nightly TDE key rotation on acme's first appliance: a new key, yesterday's one destroyed.
  if (a.serial === '1520101') {
    const at = dayStart + MS_HOUR + rng.int(10 * MS_MIN);
    const s = session++;
    const access = '2147483650:120';
    const handle = 5000 + Math.floor(dayStart / MS_DAY) % 1000;
    ops.push({ at, op: 'LUNA_LOGIN', role: 'CO', access, session: s });
    ops.push({ at: at + 800, op: 'LUNA_GENERATE_KEY', role: 'CO', access, session: s, handle });
    ops.push({ at: at + 1500, op: 'LUNA_DESTROY_OBJECT', role: 'CO', access, session: s, handle: handle - 1 });
    ops.push({ at: at + 2100, op: 'LUNA_LOGOUT', role: 'CO', access, session: s });
  }
  if (incidents && a.serial === '1520101' && times.loginFailures >= dayStart && times.loginFailures < dayStart + MS_DAY) {
    // Someone guesses the crypto officer's PIN: 8 failed logins in under two minutes, then stops
    // (the partition locks the role after a few bad PINs; guessing on is pointless).
    for (let i = 0; i < 8; i++) ops.push({ at: times.loginFailures + i * 11_000 + rng.int(2000), op: 'LUNA_LOGIN', role: 'CO', access: '2147483650:999', session: 900 + i, rc: PIN_INCORRECT });
  }
  if (incidents && a.serial === '1530201' && times.cloneAtNight >= dayStart && times.cloneAtNight < dayStart + MS_DAY) {
    // The security officer clones objects off the HSM at night.
    const access = '2147483650:66';
    ops.push({ at: times.cloneAtNight, op: 'LUNA_LOGIN', role: 'SO', access, session: 800 });
    for (let i = 0; i < 6; i++) ops.push({ at: times.cloneAtNight + 2000 + i * 1500, op: 'LUNA_CLONE_AS_SOURCE', role: 'SO', access, session: 800, handle: 301 + (i % 2) });
    ops.push({ at: times.cloneAtNight + 12_000, op: 'LUNA_LOGOUT', role: 'SO', access, session: 800 });
  }
  return ops.sort((x, y) => x.at - y.at);
}

function dpodDay(s: DpodService, dayStart: number, rng: Rng, incidents: boolean, times: ReturnType<typeof incidentTimes>): DpodOp[] {
  const ops: DpodOp[] = [];
  for (const c of s.clients) {
    for (let i = 0; i < c.sessionsPerDay; i++) {
      let at = dayStart + hourOfDay(rng) * MS_HOUR + rng.int(MS_HOUR - 5 * MS_MIN);
      const step = () => (at += 1000 + rng.int(4000));
      ops.push({ at, action: 'LUNA_OPEN_SESSION', actor: c.actor, ip: c.ip, role: c.role });
      ops.push({ at: step(), action: 'LUNA_LOGIN', actor: c.actor, ip: c.ip, role: c.role });
      const n = 2 + rng.int(5);
      for (let k = 0; k < n; k++) ops.push({ at: step(), action: rng.weighted(c.ops), actor: c.actor, ip: c.ip, role: c.role, ouid: rng.pick(c.ouids) });
      ops.push({ at: step(), action: 'LUNA_LOGOUT', actor: c.actor, ip: c.ip, role: c.role });
      ops.push({ at: step(), action: 'LUNA_CLOSE_SESSION', actor: c.actor, ip: c.ip, role: c.role });
    }
  }
  // The admin client checks the partition's keys once a day.
  const at = dayStart + 9 * MS_HOUR + rng.int(MS_HOUR);
  ops.push({ at, action: 'LUNA_LOGIN', actor: DPOD_ADMIN.actor, ip: DPOD_ADMIN.ip, role: 'CO' });
  ops.push({ at: at + 2000, action: 'LUNA_FIND_OBJECTS', actor: DPOD_ADMIN.actor, ip: DPOD_ADMIN.ip, role: 'CO' });
  ops.push({ at: at + 4000, action: 'LUNA_LOGOUT', actor: DPOD_ADMIN.actor, ip: DPOD_ADMIN.ip, role: 'CO' });
  if (incidents && times.unknownClient >= dayStart && times.unknownClient < dayStart + MS_DAY) {
    // A client nobody registered, from outside, decrypts in bulk late in the evening.
    const t0 = times.unknownClient;
    ops.push({ at: t0, action: 'LUNA_LOGIN', actor: INTRUDER.actor, ip: INTRUDER.ip, role: 'CU' });
    for (let i = 0; i < 40; i++) ops.push({ at: t0 + 3000 + i * 7000, action: 'LUNA_DECRYPT', actor: INTRUDER.actor, ip: INTRUDER.ip, role: 'CU', ouid: s.clients[0]?.ouids[0] ?? '' });
  }
  return ops.sort((x, y) => x.at - y.at);
}

async function write(out: Writable, s: string): Promise<void> {
  if (!out.write(s)) await once(out, 'drain');
}

async function close(out: Writable, file?: Writable): Promise<void> {
  out.end();
  await once(file ?? out, file ? 'close' : 'finish');
}

function dayStamp(t: number): string {
  return new Date(t).toISOString().slice(0, 10).replace(/-/g, '');
}

/** Natural volume: one syslog file per appliance and day, one DPoD export per service and day. */
async function writeNatural(o: DemoSourceOptions): Promise<{ files: string[]; records: number }> {
  const rng = new Rng(o.seed ^ 0x1a7a);
  const times = incidentTimes(o.start, o.days);
  const files: string[] = [];
  let records = 0;
  const next = new Map(LUNA_DEMO_APPLIANCES.map((a) => [a.serial, a.firstRecord]));
  let gapDone = false;
  for (let day = 0; day < o.days; day++) {
    const dayStart = o.start.getTime() + day * MS_DAY;
    for (const a of LUNA_DEMO_APPLIANCES) {
      const path = join(o.dir, `luna-hsm-syslog-${a.serial}-${dayStamp(dayStart)}.log`);
      const out = createWriteStream(path);
      for (const op of applianceDay(a, dayStart, rng, o.incidents, times)) {
        let seq = next.get(a.serial) as number;
        // acme's second appliance loses 25 records on their way to the collector.
        if (o.incidents && !gapDone && a.serial === '1520102' && op.at >= times.recordGap) {
          seq += 25;
          gapDone = true;
        }
        await write(out, syslogLine(a, seq, op) + '\n');
        next.set(a.serial, seq + 1);
        records++;
      }
      await close(out);
      files.push(path);
    }
    for (const s of LUNA_DEMO_DPOD) {
      const path = join(o.dir, `luna-hsm-dpod-${s.id.slice(0, 8)}-${dayStamp(dayStart)}.ndjson.gz`);
      const file = createWriteStream(path);
      const gz = createGzip();
      gz.pipe(file);
      for (const op of dpodDay(s, dayStart, rng, o.incidents, times)) {
        await write(gz, dpodLine(s, op, rng) + '\n');
        records++;
      }
      await close(gz, file);
      files.push(path);
    }
  }
  return { files, records };
}

/** Bench volume: about `records` lines, two thirds audit lines and one third DPoD records. */
async function writeBench(o: DemoSourceOptions & { records: number }): Promise<{ files: string[]; records: number }> {
  const rng = new Rng(o.seed ^ 0xbe7c);
  const syslogPath = join(o.dir, 'luna-hsm-bench-syslog.log');
  const dpodPath = join(o.dir, 'luna-hsm-bench-dpod.ndjson');
  const syslog = createWriteStream(syslogPath);
  const dpod = createWriteStream(dpodPath);
  const span = o.days * MS_DAY;
  const step = span / o.records;
  const seqs = new Map(LUNA_DEMO_APPLIANCES.map((a) => [a.serial, a.firstRecord]));
  const service = LUNA_DEMO_DPOD[0] as DpodService;
  let buf: string[] = [];
  let dbuf: string[] = [];
  for (let i = 0; i < o.records; i++) {
    const at = o.start.getTime() + Math.floor(i * step);
    if (i % 3 === 2) {
      const c = rng.pick(service.clients);
      dbuf.push(dpodLine(service, { at, action: rng.weighted(c.ops), actor: c.actor, ip: c.ip, role: c.role, ouid: rng.pick(c.ouids) }, rng));
    } else {
      const a = rng.pick(LUNA_DEMO_APPLIANCES);
      const app = rng.pick(a.apps);
      const seq = seqs.get(a.serial) as number;
      seqs.set(a.serial, seq + 1);
      buf.push(syslogLine(a, seq, { at, op: rng.weighted(app.ops), role: app.role, access: app.access, session: 1 + rng.int(60), handle: rng.pick(app.keys) }));
    }
    if (buf.length >= 2000) {
      await write(syslog, buf.join('\n') + '\n');
      buf = [];
    }
    if (dbuf.length >= 1000) {
      await write(dpod, dbuf.join('\n') + '\n');
      dbuf = [];
    }
  }
  if (buf.length > 0) await write(syslog, buf.join('\n') + '\n');
  if (dbuf.length > 0) await write(dpod, dbuf.join('\n') + '\n');
  await close(syslog);
  await close(dpod);
  return { files: [syslogPath, dpodPath], records: o.records };
}

function tenantMap(): Record<string, string> {
  const map: Record<string, string> = {};
  for (const a of LUNA_DEMO_APPLIANCES) map[a.serial] = a.tenant;
  for (const s of LUNA_DEMO_DPOD) map[s.id] = s.tenant;
  return map;
}

export const lunaHsmDemo: DemoSource = {
  source: 'luna-hsm',
  tenants: tenantMap(),
  write: (o) => (o.records === undefined ? writeNatural(o) : writeBench({ ...o, records: o.records })),
  incidents: (o): DemoIncident[] => {
    const t = incidentTimes(o.start, o.days);
    const iso = (ms: number) => new Date(ms).toISOString();
    return [
      { id: 'luna-co-login-failures', at: iso(t.loginFailures), what: "8 failed crypto-officer logins (RC_PIN_INCORRECT) in under 2 minutes on acme's Luna HSM 1520101, at night", expect: { detectors: ['failure-spike'], tenant: 'acme', principal: 'CO' } },
      { id: 'luna-audit-record-gap', at: iso(t.recordGap), what: "25 audit records of acme's Luna HSM 1520102 never reach the collector (a record-number gap)", expect: { detectors: ['audit-log-integrity'], tenant: 'acme' } },
      { id: 'luna-clone-at-night', at: iso(t.cloneAtNight), what: "initech's HSM security officer clones 6 key objects off Luna HSM 1530201 at 02:40 UTC", expect: { detectors: plusOffHours(iso(t.cloneAtNight), ['hsm-admin-operation']), tenant: 'initech' } },
      // A new client (principal and network) on the service: only the first-use detectors cover it, given 14 days of history.
      { id: 'dpod-unknown-client', at: iso(t.unknownClient), what: "an unregistered DPoD client from 203.0.113.45 logs in to globex's Luna Cloud HSM service and decrypts 40 times in 5 minutes", expect: { detectors: plusFirstUse(iso(t.unknownClient), o.start, []), tenant: 'globex' } },
    ];
  },
};
