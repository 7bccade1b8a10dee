import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listAlerts } from '../../detectors/alert-feed.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { tempDir } from '../helpers/temp-dir.ts';

// Event fields full of quotes, backslashes, newlines, SQL and query-parameter syntax go in through
// the real pipeline (keywatch ingest, keywatch-json) and come back byte for byte, through the store
// and through the CLI; filters given such values match only what they name. Every step is a
// keywatch subprocess on one embedded store; this process opens it only at the end.

const BIN = new URL('../../bin/keywatch.js', import.meta.url).pathname;
const dir = tempDir('keywatch-security-sql-');
// The data directory's name holds a quote and a backslash too: the staging file path inside it is written into SQL.
const dataDir = join(dir.path, "store o'brien \\ x");
afterAll(() => dir.remove());

function kw(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, '--data-dir', dataDir, ...args], { encoding: 'utf8', env: { ...process.env, KEYWATCH_DATA_DIR: '', KEYWATCH_LOG_LEVEL: 'warn' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const HOSTILE = [
  "O'Brien",
  'say "hi"',
  'back\\slash \\\' \\n literal',
  'line one\nline two\r\nline three',
  'tab\there\tand\vvertical\fform',
  "'); DROP TABLE key_events; --",
  "x' OR 1=1 --",
  '" OR ""="',
  '{p:String} {tenant:String} {{double}}',
  '$1 ? :name @var %s %(x)s',
  '`backtick` ; SELECT * FROM system.users',
  '/* comment */ -- trailing',
  'nul\u0000inside',
  'controls \u0001\u0007\u001b[31m\u007f',
  'ünïcödé 日本語 🔑 \u202Eright-to-left\u200B zero-width e\u0301',
  ' leading and trailing spaces ',
  '\\',
  "'",
  '',
];

const EVIL_TENANT = "x' OR 1=1";
const STRING_FIELDS = ['account', 'region', 'key_id', 'key_version', 'principal', 'source_ip', 'user_agent', 'error_code', 'request_id'] as const;

interface Expected {
  event_id: string;
  tenant: string;
  account: string;
  region: string;
  key_id: string;
  key_version: string;
  principal: string;
  source_ip: string;
  user_agent: string;
  error_code: string;
  request_id: string;
  attributes: Record<string, string>;
}

// One failed decrypt per hostile string, every string field carrying it (shifted, so fields differ).
const events: Expected[] = HOSTILE.map((s, i) => {
  const e: Record<string, unknown> = { event_id: `evt-${String(i).padStart(2, '0')}-${s}`, tenant: i % 2 === 0 ? EVIL_TENANT : 'acme' };
  STRING_FIELDS.forEach((f, j) => (e[f] = `${HOSTILE[(i + j) % HOSTILE.length]}`));
  e.attributes = { [`k${s}`]: s, "'); DROP TABLE alerts; --": HOSTILE[(i + 1) % HOSTILE.length] as string };
  return e as unknown as Expected;
});
// Two disabled keys, one per tenant, for the detector to raise alerts on.
const disables = [EVIL_TENANT, 'acme'].map((tenant, i) => ({ event_id: `disable-${i}`, tenant, key_id: `key '${i}'; DROP TABLE alerts; --`, principal: `admin"${i}\n` }));

function records(): string {
  const lines = events.map((e) => JSON.stringify({ source: 'pkcs11-probe', event_time: '2026-11-20T10:00:00.000Z', operation: 'decrypt', outcome: 'failure', ...e }));
  for (const d of disables) lines.push(JSON.stringify({ source: 'pkcs11-probe', event_time: '2026-11-20T11:00:00.000Z', operation: 'disable_key', outcome: 'success', ...d }));
  return lines.join('\n') + '\n';
}

const COLUMNS = `event_id, tenant, ${STRING_FIELDS.join(', ')}, attributes`;
const TABLES = ['alerts', 'ingest_batches', 'key_events', 'quarantine', 'raw_events'];

describe('hostile strings through the pipeline and the CLI', () => {
  it('ingests events whose fields hold quotes, newlines, SQL and parameter syntax, and keywatch sql returns them byte for byte', () => {
    const file = join(dir.path, 'hostile.ndjson');
    writeFileSync(file, records());
    const r = kw('ingest', '--json', '--format', 'keywatch-json', file);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toMatchObject({ read: events.length + 2, inserted: events.length + 2, quarantined: {} });

    const q = kw('sql', '--format', 'json', `SELECT ${COLUMNS} FROM key_events WHERE operation = 'decrypt' ORDER BY event_id`);
    expect(q.code).toBe(0);
    const back = JSON.parse(q.out) as Expected[];
    expect(back).toEqual([...events].sort((a, b) => (a.event_id < b.event_id ? -1 : 1)));
    // The strings themselves, not a normalised form: compare bytes.
    for (const [i, e] of back.entries()) {
      const want = events.find((x) => x.event_id === e.event_id) as Expected;
      expect(Buffer.from(e.principal).equals(Buffer.from(want.principal)), `principal of event ${i}`).toBe(true);
    }
  });

  it('raises alerts whose tenant and key hold SQL, and alerts list --tenant matches that tenant only, as a value', () => {
    const d = kw('detect', '--from', '2026-11-20T00:00:00Z', '--to', '2026-11-21T00:00:00Z', '--only', 'key-disabled-or-deleted', '--no-deliver', '--json');
    expect(d.code, d.err).toBe(0);
    const list = (tenant: string) => {
      const a = kw('alerts', 'list', '--status', 'all', '--tenant', tenant, '--json');
      expect(a.code, a.err).toBe(0);
      return a.out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { tenant: string; key_id: string });
    };
    const evil = list(EVIL_TENANT);
    expect(evil.map((a) => [a.tenant, a.key_id])).toEqual([[EVIL_TENANT, disables[0]?.key_id]]);
    expect(list("acme' OR '1'='1")).toEqual([]);
  });

  it('leaves every table in place and the events unchanged when read through the store', async () => {
    const store = await openEmbeddedStore({ dataDir });
    try {
      const tables = await store.query<{ name: string }>('SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name');
      expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(TABLES));
      const rows = await store.query<Expected>(`SELECT ${COLUMNS} FROM key_events WHERE event_id IN {ids:Array(String)} ORDER BY event_id`, { ids: events.map((e) => e.event_id) });
      expect(rows).toEqual([...events].sort((a, b) => (a.event_id < b.event_id ? -1 : 1)));
      for (const s of HOSTILE.filter((x) => x !== '')) {
        const [n] = await store.query<{ n: string }>('SELECT count() AS n FROM key_events WHERE principal = {p:String}', { p: s });
        expect(Number(n?.n), JSON.stringify(s)).toBe(events.filter((e) => e.principal === s).length);
      }
      const [all] = await store.query<{ n: string }>('SELECT count() AS n FROM key_events');
      expect(Number(all?.n)).toBe(events.length + 2);
      // The alert filter the CLI uses, with more values that look like SQL or parameters.
      expect((await listAlerts(store, { status: 'all', tenant: 'acme' })).map((a) => [a.tenant, a.key_id])).toEqual([['acme', disables[1]?.key_id]]);
      for (const t of ["' OR 1=1 --", '{tenant:String}', 'acme\\', "acme'"]) expect(await listAlerts(store, { status: 'all', tenant: t })).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
