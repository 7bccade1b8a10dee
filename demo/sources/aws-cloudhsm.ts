import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { Rng } from '../rng.ts';
import type { DemoIncident, DemoSource, DemoSourceOptions } from './demo-source.ts';
import { inOfficeHours, plusOffHours } from './demo-source.ts';

/**
 * Synthetic AWS CloudHSM audit logs (User Guide, "Interpreting AWS CloudHSM audit logs") for
 * `keywatch demo` and bench/ingest. Two clusters of two HSMs each: globex's backs a KMS custom key
 * store (the `kmsuser` crypto user connects every 20 minutes and generates keys), acme's serves a
 * PKI signer and TLS offload (logins, key pairs, wraps and unwraps, session keys destroyed, a few
 * shares), with a daily backup and the odd crypto-officer session. Every login is mirrored on the
 * cluster's other HSM and every new key synchronised to it as a masked object, as CloudHSM does.
 * One acme HSM reboots on the first day (a new reboot counter from Sequence No 0: not a finding).
 *
 * Files, as a CloudWatch Logs subscription to Firehose writes them into S3: one gzip object per
 * cluster and day of concatenated deliveries (one log stream per delivery, at most 5 minutes and
 * 100 events each), the first one preceded by Firehose's control message. The last day of one
 * globex HSM is also written as a CloudWatch export (text, timestamp before each entry), so the
 * demo exercises text framing and deduplication across inputs.
 */

const MS_MIN = 60_000;
const MS_HOUR = 3_600_000;
const MS_DAY = 86_400_000;
const DELIVERY_EVENTS = 100;
const DELIVERY_SPAN_MS = 5 * MS_MIN;

type UserType = 'CN_CRYPTO_USER (1)' | 'CN_CRYPTO_OFFICER (2)';

interface Cluster {
  id: string;
  tenant: string;
  /** The AWS account owning the log group (the tenant's account in demo/estate.ts). */
  owner: string;
  hsms: [string, string];
  /** Reboot counter of each HSM at the start of the demo, and the first Sequence No seen. */
  boot: [{ reboot: number; seq: number }, { reboot: number; seq: number }];
}

export const CLOUDHSM_DEMO_CLUSTERS: Cluster[] = [
  { id: 'cluster-gx4kq7wz2pn', tenant: 'globex', owner: '345678901234', hsms: ['hsm-gx3m8r2vq5t', 'hsm-gx9c4n7kd2w'], boot: [{ reboot: 0x11c, seq: 0x3a10 }, { reboot: 0x0f7, seq: 0x3962 }] },
  { id: 'cluster-ac8t5j1hx6r', tenant: 'acme', owner: '210987654321', hsms: ['hsm-ac2p6w9yb4e', 'hsm-ac7f3s1mu8k'], boot: [{ reboot: 0x2a, seq: 0x11f0 }, { reboot: 0x31, seq: 0x1204 }] },
];

const [GLOBEX, ACME] = CLOUDHSM_DEMO_CLUSTERS as [Cluster, Cluster];

// Opcode codes the User Guide prints; the others are not documented and invented here (the
// normalizer reads the name).
const OPCODES: Record<string, string> = {
  CN_LOGIN: '0xd',
  CN_LOGOUT: '0xe',
  CN_CREATE_USER: '0x3',
  CN_CHANGE_PSWD: '0x9',
  CN_DESTROY_OBJECT: '0x11',
  CN_GENERATE_KEY: '0x17',
  CN_GENERATE_KEY_PAIR: '0x19',
  CN_WRAP_KEY: '0x1a',
  CN_UNWRAP_KEY: '0x1b',
  CN_EXTRACT_MASKED_OBJECT_USER: '0xf0',
  CN_INSERT_MASKED_OBJECT_USER: '0xf1',
  CN_APP_FINALIZE: '0x8',
  CN_SHARE_OBJECT: '0x12',
  CN_BACKUP_BEGIN: '0x60',
  CN_BACKUP_END: '0x61',
};

interface Op {
  at: number;
  hsm: 0 | 1;
  opcode: string;
  session: string;
  response?: string;
  user?: string;
  userType?: UserType;
  key?: number;
  publicKey?: number;
}

interface Entry extends Op {
  us: bigint;
  seq: number;
  reboot: number;
}

const LOGIN_FAILED = '163:HSM Error: RET_USER_LOGIN_FAILURE';

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** One audit entry's text, as CloudHSM writes it. */
export function formatEntry(e: Entry): string {
  const d = new Date(Number(e.us / 1000n));
  const micro = Number(e.us % 1_000_000n);
  const lines = [
    `Time: ${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/${pad(d.getUTCFullYear() % 100)} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(micro, 6)}, usecs:${e.us}`,
    `Sequence No : 0x${e.seq.toString(16)}`,
    `Reboot counter : 0x${e.reboot.toString(16)}`,
    'Command Type(hex) : CN_MGMT_CMD (0x0)',
    `Opcode : ${e.opcode} (${OPCODES[e.opcode] ?? '0x0'})`,
    `Session Handle : ${e.session}`,
    `Response : ${e.response ?? '0:HSM Return: SUCCESS'}`,
  ];
  if (e.user !== undefined) lines.push('Log type : MGMT_USER_DETAILS_LOG (2)', `User Name : ${e.user}`, `User Type : ${e.userType ?? 'CN_CRYPTO_USER (1)'}`);
  else if (e.key !== undefined) lines.push('Log type : MGMT_KEY_DETAILS_LOG (1)', `Priv/Secret Key Handle : ${e.key}`, `Public Key Handle : ${e.publicKey ?? 0}`);
  else lines.push('Log type : MINIMAL_LOG_ENTRY (0)');
  return lines.join('\n');
}

/** Relative weight of activity by UTC hour: office hours of the clusters' teams. */
const DIURNAL = [0.25, 0.2, 0.2, 0.2, 0.25, 0.35, 0.6, 0.9, 1.3, 1.6, 1.7, 1.6, 1.4, 1.6, 1.7, 1.6, 1.4, 1.1, 0.8, 0.6, 0.5, 0.4, 0.35, 0.3];

/** Traffic of one cluster, as operations in time; sequence numbers are given later, per HSM. */
class ClusterTraffic {
  readonly ops: Op[] = [];
  private nextKey: number;
  constructor(
    readonly c: Cluster,
    private readonly rng: Rng,
  ) {
    this.nextKey = 262144 + rng.int(4096);
  }

  session(): string {
    return `0x${(0x1000000 + this.rng.int(0xeffffff)).toString(16)}`;
  }

  /** A login as the HSMs log it: on the HSM that runs it and, a few ms later, on the other one. */
  login(at: number, hsm: 0 | 1, user: string, userType: UserType, session: string, response?: string): void {
    this.ops.push({ at, hsm, opcode: 'CN_LOGIN', session, user, userType, ...(response ? { response } : {}) });
    if (!response) this.ops.push({ at: at + 20 + this.rng.int(60), hsm: hsm === 0 ? 1 : 0, opcode: 'CN_LOGIN', session: this.session(), user, userType });
  }

  /** A new key: generated on one HSM, sent to the other as a masked object. */
  newKey(at: number, hsm: 0 | 1, session: string, pair: boolean): number {
    const key = this.nextKey++;
    const publicKey = pair ? this.nextKey++ : 0;
    this.ops.push({ at, hsm, opcode: pair ? 'CN_GENERATE_KEY_PAIR' : 'CN_GENERATE_KEY', session, key, publicKey });
    this.ops.push({ at: at + 3, hsm, opcode: 'CN_EXTRACT_MASKED_OBJECT_USER', session, key });
    this.ops.push({ at: at + 60 + this.rng.int(40), hsm: hsm === 0 ? 1 : 0, opcode: 'CN_INSERT_MASKED_OBJECT_USER', session: this.session(), key });
    return key;
  }

  keyHandle(): number {
    return this.nextKey - 1 - this.rng.int(Math.min(40, this.nextKey - 262144));
  }

  backup(at: number): void {
    const s = this.session();
    this.ops.push({ at, hsm: 0, opcode: 'CN_BACKUP_BEGIN', session: s });
    this.ops.push({ at: at + 40_000 + this.rng.int(20_000), hsm: 0, opcode: 'CN_BACKUP_END', session: s });
  }

  /**
   * A crypto officer's session on a working day: login on both HSMs, a look at the users and keys
   * (read-only commands the audit log leaves out), logout. User and password changes are rare
   * events of their own (a quarterly password rotation), not part of a routine day.
   */
  officer(at: number, hsm: 0 | 1): void {
    if (!inOfficeHours(at)) return;
    const s = this.session();
    this.login(at, hsm, 'admin', 'CN_CRYPTO_OFFICER (2)', s);
    const t = at + 30_000 + this.rng.int(120_000);
    this.ops.push({ at: t, hsm, opcode: 'CN_LOGOUT', session: s, user: 'admin', userType: 'CN_CRYPTO_OFFICER (2)' });
  }
}

/** globex: KMS connects as kmsuser every 20 minutes; a few KMS keys are created each day. */
function globexDay(t: ClusterTraffic, rng: Rng, day: number): void {
  for (let m = 0; m < 24 * 60; m += 20) {
    const at = day + m * MS_MIN + rng.int(60_000);
    const hsm = rng.int(2) as 0 | 1;
    const s = t.session();
    t.login(at, hsm, 'kmsuser', 'CN_CRYPTO_USER (1)', s);
    const hour = Math.floor(m / 60);
    if (rng.next() < 0.06 * (DIURNAL[hour] ?? 1)) t.newKey(at + 2_000 + rng.int(60_000), hsm, s, false);
    t.ops.push({ at: at + 19 * MS_MIN, hsm, opcode: 'CN_APP_FINALIZE', session: s });
  }
  t.backup(day + 1 * MS_HOUR + rng.int(30 * MS_MIN));
  if (rng.next() < 0.3) t.officer(day + 13 * MS_HOUR + rng.int(3 * MS_HOUR), rng.int(2) as 0 | 1);
}

/** acme: hourly TLS-offload connections, PKI signer sessions in office hours. */
function acmeDay(t: ClusterTraffic, rng: Rng, day: number): void {
  for (let h = 0; h < 24; h++) {
    const at = day + h * MS_HOUR + rng.int(MS_HOUR - 2 * MS_MIN);
    const hsm = rng.int(2) as 0 | 1;
    const s = t.session();
    t.login(at, hsm, 'tls-offload', 'CN_CRYPTO_USER (1)', s);
    t.ops.push({ at: at + 55 * MS_MIN, hsm, opcode: 'CN_APP_FINALIZE', session: s });

    const sessions = rng.next() < ((DIURNAL[h] ?? 1) * 0.65) / 1.7 ? 1 + rng.int(2) : 0;
    for (let k = 0; k < sessions; k++) {
      let when = day + h * MS_HOUR + rng.int(50 * MS_MIN);
      const on = rng.int(2) as 0 | 1;
      const ss = t.session();
      if (rng.next() < 0.08) {
        // A mistyped password, then the retry.
        t.login(when, on, 'pki-signer', 'CN_CRYPTO_USER (1)', ss, LOGIN_FAILED);
        when += 8_000 + rng.int(10_000);
      }
      t.login(when, on, 'pki-signer', 'CN_CRYPTO_USER (1)', ss);
      const work = 1 + rng.int(5);
      for (let w = 0; w < work; w++) {
        when += 5_000 + rng.int(60_000);
        // Sharing a key with another crypto user is set up by hand, in office hours.
        const pick = rng.weighted([['wrap', 5], ['unwrap', 2], ['pair', 1], ['share', inOfficeHours(when) ? 0.4 : 0]] as const);
        if (pick === 'pair') {
          t.newKey(when, on, ss, true);
        } else if (pick === 'wrap') {
          t.ops.push({ at: when, hsm: on, opcode: 'CN_WRAP_KEY', session: ss, key: t.keyHandle() });
        } else if (pick === 'unwrap') {
          // A session key unwrapped for one job, then destroyed.
          const key = 600_000 + rng.int(90_000);
          t.ops.push({ at: when, hsm: on, opcode: 'CN_UNWRAP_KEY', session: ss, key });
          t.ops.push({ at: when + 1_500 + rng.int(4_000), hsm: on, opcode: 'CN_DESTROY_OBJECT', session: ss, key });
        } else {
          t.ops.push({ at: when, hsm: on, opcode: 'CN_SHARE_OBJECT', session: ss, key: t.keyHandle() });
        }
      }
      t.ops.push({ at: when + 3_000, hsm: on, opcode: 'CN_LOGOUT', session: ss, user: 'pki-signer', userType: 'CN_CRYPTO_USER (1)' });
    }
  }
  t.backup(day + 2 * MS_HOUR + rng.int(30 * MS_MIN));
  if (rng.next() < 0.2) t.officer(day + 10 * MS_HOUR + rng.int(4 * MS_HOUR), rng.int(2) as 0 | 1);
}

interface IncidentPlan {
  gapAt: number;
  burstAt: number;
  nightUserAt: number;
}

function incidentPlan(start: Date, days: number, seed: number): IncidentPlan {
  const rng = new Rng(seed ^ 0xc10d);
  const mid = Math.min(1, days - 1);
  const late = Math.max(0, days - 1);
  const day = (d: number) => start.getTime() + d * MS_DAY;
  return {
    // Entries of globex's second HSM lost in the afternoon.
    gapAt: day(mid) + 15 * MS_HOUR + rng.int(MS_HOUR),
    // Someone guessing the crypto officer's password on acme's first HSM at night.
    burstAt: day(mid) + 3 * MS_HOUR + 12 * MS_MIN + rng.int(10 * MS_MIN),
    // A crypto user created at night in globex's cluster.
    nightUserAt: day(late) + 2 * MS_HOUR + 47 * MS_MIN + rng.int(5 * MS_MIN),
  };
}

const GAP_SIZE = 6;
const BURST_SIZE = 24;

const iso = (ms: number) => new Date(ms).toISOString();

function incidentNotes(start: Date, days: number, seed: number): DemoIncident[] {
  const p = incidentPlan(start, days, seed);
  return [
    { id: 'cloudhsm-sequence-gap', at: iso(p.gapAt), what: `${GAP_SIZE} audit entries of ${GLOBEX.hsms[1]} (${GLOBEX.id}, globex) never reach CloudWatch: a sequence_gap in audit_integrity` },
    { id: 'cloudhsm-co-login-failures', at: iso(p.burstAt), what: `${BURST_SIZE} failed CN_LOGIN attempts as crypto officer "admin" on ${ACME.hsms[0]} (${ACME.id}, acme) within 4 minutes at night` },
    { id: 'cloudhsm-user-created-at-night', at: iso(p.nightUserAt), what: `crypto officer "admin" creates crypto user "tmp-export" in ${GLOBEX.id} (globex) at night` },
  ];
}

/** Sequence numbers per HSM, in time order; acme's second HSM reboots early on the first day. */
function sequence(c: Cluster, ops: Op[], rng: Rng, rebootAt: number | undefined): Entry[] {
  const out: Entry[] = [];
  for (const h of [0, 1] as const) {
    let { reboot, seq } = c.boot[h];
    let rebooted = false;
    const mine = ops.filter((o) => o.hsm === h).sort((a, b) => a.at - b.at);
    for (const o of mine) {
      if (h === 1 && rebootAt !== undefined && !rebooted && o.at >= rebootAt) {
        reboot += 1;
        seq = 0;
        rebooted = true;
      }
      out.push({ ...o, us: BigInt(o.at) * 1000n + BigInt(rng.int(1000)), seq: seq++, reboot });
    }
  }
  return out;
}

async function put(out: Writable, s: string): Promise<void> {
  if (!out.write(s)) await once(out, 'drain');
}

async function finish(out: Writable, file: Writable): Promise<void> {
  out.end();
  await once(file, 'close');
}

function gzipFile(path: string): { gz: Writable; file: Writable } {
  const file = createWriteStream(path);
  const gz = createGzip();
  gz.pipe(file);
  return { gz, file };
}

/** CloudWatch event ids: 56 digits, growing with time. */
function eventId(e: Entry, i: number): string {
  return `${(BigInt(e.at) * 10_000_000n + BigInt(i)).toString().padStart(56, '3')}`;
}

function delivery(c: Cluster, hsm: string, entries: Entry[]): string {
  return JSON.stringify({
    messageType: 'DATA_MESSAGE',
    owner: c.owner,
    logGroup: `/aws/cloudhsm/${c.id}`,
    logStream: hsm,
    subscriptionFilters: ['keywatch-firehose'],
    logEvents: entries.map((e, i) => ({ id: eventId(e, i), timestamp: Number(e.us / 1000n), message: formatEntry(e) })),
  });
}

const CONTROL = JSON.stringify({
  messageType: 'CONTROL_MESSAGE',
  owner: 'CloudwatchLogs',
  logGroup: '',
  logStream: '',
  subscriptionFilters: [],
  logEvents: [{ id: '', timestamp: 0, message: 'CWL CONTROL MESSAGE: Checking health of destination Firehose.' }],
});

/** Splits one stream's entries into deliveries of at most 100 events and 5 minutes. */
function* deliveries(entries: Entry[]): Generator<Entry[]> {
  let cur: Entry[] = [];
  for (const e of entries) {
    const first = cur[0];
    if (first && (cur.length >= DELIVERY_EVENTS || e.at - first.at > DELIVERY_SPAN_MS)) {
      yield cur;
      cur = [];
    }
    cur.push(e);
  }
  if (cur.length > 0) yield cur;
}

async function writeNatural(o: DemoSourceOptions): Promise<{ files: string[]; records: number }> {
  const rng = new Rng(o.seed ^ 0x45c1);
  const start = o.start.getTime();
  const plan = incidentPlan(o.start, o.days, o.seed);
  const files: string[] = [];
  let records = 0;
  let controlWritten = false;
  const all = new Map<Cluster, Entry[]>();
  for (const c of CLOUDHSM_DEMO_CLUSTERS) {
    const t = new ClusterTraffic(c, rng);
    for (let d = 0; d < o.days; d++) (c === GLOBEX ? globexDay : acmeDay)(t, rng, start + d * MS_DAY);
    if (o.incidents && c === ACME) {
      // The burst: failed logins only on the HSM that received them (a failed login is not mirrored).
      for (let i = 0; i < BURST_SIZE; i++) t.login(plan.burstAt + i * 9_000 + rng.int(2_000), 0, 'admin', 'CN_CRYPTO_OFFICER (2)', t.session(), LOGIN_FAILED);
    }
    if (o.incidents && c === GLOBEX) {
      const s = t.session();
      t.login(plan.nightUserAt - 90_000, 0, 'admin', 'CN_CRYPTO_OFFICER (2)', s);
      // cloudhsm_mgmt_util sends the command to every HSM of the cluster: each logs it.
      t.ops.push({ at: plan.nightUserAt, hsm: 0, opcode: 'CN_CREATE_USER', session: s, user: 'tmp-export', userType: 'CN_CRYPTO_USER (1)' });
      t.ops.push({ at: plan.nightUserAt + 35, hsm: 1, opcode: 'CN_CREATE_USER', session: t.session(), user: 'tmp-export', userType: 'CN_CRYPTO_USER (1)' });
      t.ops.push({ at: plan.nightUserAt + 40_000, hsm: 0, opcode: 'CN_LOGOUT', session: s, user: 'admin', userType: 'CN_CRYPTO_OFFICER (2)' });
    }
    const inRange = t.ops.filter((op) => op.at >= start && op.at < start + o.days * MS_DAY);
    let entries = sequence(c, inRange, rng, c === ACME ? start + 4 * MS_HOUR + rng.int(MS_HOUR) : undefined);
    if (o.incidents && c === GLOBEX) {
      // The gap: the first entries of the second HSM from the incident time on never arrive.
      const lost = new Set(entries.filter((e) => e.hsm === 1 && e.at >= plan.gapAt).slice(0, GAP_SIZE));
      entries = entries.filter((e) => !lost.has(e));
    }
    all.set(c, entries.sort((a, b) => a.at - b.at || a.hsm - b.hsm));
  }

  for (let d = 0; d < o.days; d++) {
    const from = start + d * MS_DAY;
    const date = iso(from).slice(0, 10);
    for (const c of CLOUDHSM_DEMO_CLUSTERS) {
      const day = (all.get(c) ?? []).filter((e) => e.at >= from && e.at < from + MS_DAY);
      const path = join(o.dir, `aws-cloudhsm-firehose-${c.id}-${date}.json.gz`);
      const { gz, file } = gzipFile(path);
      if (!controlWritten) {
        await put(gz, CONTROL);
        controlWritten = true;
        records++;
      }
      // Deliveries in time order across the cluster's streams, as Firehose receives them.
      const batches: { hsm: string; entries: Entry[] }[] = [];
      for (const h of [0, 1] as const) for (const b of deliveries(day.filter((e) => e.hsm === h))) batches.push({ hsm: c.hsms[h], entries: b });
      batches.sort((a, b) => (a.entries[0]?.at ?? 0) - (b.entries[0]?.at ?? 0));
      for (const b of batches) {
        await put(gz, delivery(c, b.hsm, b.entries));
        records += b.entries.length;
      }
      await finish(gz, file);
      files.push(path);
    }
  }

  // The last day of globex's first HSM again, as a CloudWatch export to S3 (text).
  const lastFrom = start + (o.days - 1) * MS_DAY;
  const hsm = GLOBEX.hsms[0];
  const exportPath = join(o.dir, `aws-cloudhsm-export-${GLOBEX.id}-${hsm}-${iso(lastFrom).slice(0, 10)}.log`);
  const out = createWriteStream(exportPath);
  for (const e of all.get(GLOBEX) ?? []) {
    if (e.hsm !== 0 || e.at < lastFrom) continue;
    await put(out, `${iso(Number(e.us / 1000n))} ${formatEntry(e)}\n`);
    records++;
  }
  out.end();
  await once(out, 'close');
  files.push(exportPath);
  return { files, records };
}

/** Bench: about `records` entries of dense traffic on all four HSMs, one gzip file, written as generated. */
async function writeBench(o: DemoSourceOptions, target: number): Promise<{ files: string[]; records: number }> {
  const rng = new Rng(o.seed ^ 0xbe4c);
  const path = join(o.dir, 'aws-cloudhsm-bench.json.gz');
  const { gz, file } = gzipFile(path);
  const streams = CLOUDHSM_DEMO_CLUSTERS.flatMap((c) => c.hsms.map((hsm, h) => ({ c, hsm, seq: c.boot[h as 0 | 1].seq, reboot: c.boot[h as 0 | 1].reboot, at: o.start.getTime(), pending: [] as Entry[] })));
  const users = ['kmsuser', 'pki-signer', 'tls-offload'];
  let records = 0;
  let key = 262144;
  while (records < target) {
    const s = rng.pick(streams);
    s.at += 200 + rng.int(4_000);
    const pick = rng.weighted([['login', 4], ['finalize', 2], ['generate', 1], ['sync', 2], ['wrap', 3], ['unwrap', 1], ['destroy', 1]] as const);
    const session = `0x${(0x1000000 + rng.int(0xeffffff)).toString(16)}`;
    const base = { at: s.at, hsm: 0 as const, session, us: BigInt(s.at) * 1000n + BigInt(rng.int(1000)), seq: s.seq++, reboot: s.reboot };
    const e: Entry =
      pick === 'login'
        ? { ...base, opcode: 'CN_LOGIN', user: rng.pick(users), userType: 'CN_CRYPTO_USER (1)', ...(rng.next() < 0.02 ? { response: LOGIN_FAILED } : {}) }
        : pick === 'finalize'
          ? { ...base, opcode: 'CN_APP_FINALIZE' }
          : pick === 'generate'
            ? { ...base, opcode: 'CN_GENERATE_KEY', key: key++ }
            : pick === 'sync'
              ? { ...base, opcode: rng.next() < 0.5 ? 'CN_EXTRACT_MASKED_OBJECT_USER' : 'CN_INSERT_MASKED_OBJECT_USER', key: key - 1 - rng.int(Math.min(50, key - 262143)) }
              : { ...base, opcode: pick === 'wrap' ? 'CN_WRAP_KEY' : pick === 'unwrap' ? 'CN_UNWRAP_KEY' : 'CN_DESTROY_OBJECT', key: 262144 + rng.int(Math.max(1, key - 262144)) };
    s.pending.push(e);
    records++;
    if (s.pending.length >= DELIVERY_EVENTS) {
      await put(gz, delivery(s.c, s.hsm, s.pending));
      s.pending = [];
    }
  }
  for (const s of streams) if (s.pending.length > 0) await put(gz, delivery(s.c, s.hsm, s.pending));
  await finish(gz, file);
  return { files: [path], records };
}

export const awsCloudHsmDemo: DemoSource = {
  source: 'aws-cloudhsm',
  tenants: Object.fromEntries(CLOUDHSM_DEMO_CLUSTERS.map((c) => [c.id, c.tenant])),
  write: (o) => (o.records === undefined ? writeNatural(o) : writeBench(o, o.records)),
  incidents: (o) => incidentNotes(o.start, o.days, o.seed).map((i) => ({ ...i, expect: EXPECT[i.id]?.(i.at) })),
};

/** What should catch each incident (keywatch evaluate). */
const EXPECT: Record<string, (at: string) => NonNullable<DemoIncident['expect']>> = {
  'cloudhsm-sequence-gap': () => ({ detectors: ['audit-log-integrity'], tenant: 'globex' }),
  'cloudhsm-co-login-failures': () => ({ detectors: ['failure-spike'], tenant: 'acme', principal: 'admin' }),
  'cloudhsm-user-created-at-night': (at) => ({ detectors: plusOffHours(at, ['hsm-admin-operation']), tenant: 'globex' }),
};
