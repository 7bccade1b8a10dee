import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { demoKeys } from '../estate.ts';
import { Rng } from '../rng.ts';
import type { DemoIncident, DemoSource, DemoSourceOptions } from './demo-source.ts';

/**
 * Synthetic PKCS#11 probe results in keywatch's canonical KeyEvent JSON (ingest/keywatch-json):
 * every five minutes a probe opens a session on each customer HSM partition, signs and verifies a
 * nonce with a test key and wraps a test key, recording each operation's latency. Source
 * `pkcs11-probe`. Every morning at 06:00 the probe also compares the key check value (AES-CMAC
 * KCV) of each AWS BYOK key's material in the HSM partition it came from with the one computed
 * over the material as imported (the contract of detectors/kcv-mismatch.ts). One NDJSON file per day.
 */

const MS_MIN = 60_000;
const MS_DAY = 86_400_000;
const EVERY_MS = 5 * MS_MIN;

interface Partition {
  account: string;
  tenant: string;
  module: string;
  slot: string;
  /** Typical latency of a sign on this partition, ms. */
  baseMs: number;
}

const PARTITIONS: Partition[] = [
  { account: 'luna-1520101-par-acme', tenant: 'acme', module: 'libCryptoki2_64.so', slot: '0', baseMs: 4 },
  { account: 'luna-1520102-par-acme', tenant: 'acme', module: 'libCryptoki2_64.so', slot: '1', baseMs: 4.5 },
  { account: 'cloudhsm-cluster-gx4kq7wz2pn', tenant: 'globex', module: 'libcloudhsm_pkcs11.so', slot: '1', baseMs: 7 },
  { account: 'luna-1530201-par-initech', tenant: 'initech', module: 'libCryptoki2_64.so', slot: '0', baseMs: 5 },
];

const PROBES: { operation: string; vendor: string; mechanism: string; factor: number }[] = [
  { operation: 'sign', vendor: 'C_Sign', mechanism: 'CKM_ECDSA_SHA256', factor: 1 },
  { operation: 'verify', vendor: 'C_Verify', mechanism: 'CKM_ECDSA_SHA256', factor: 0.6 },
  { operation: 'wrap', vendor: 'C_WrapKey', mechanism: 'CKM_AES_KEY_WRAP_PAD', factor: 0.8 },
];

/** The AWS keys whose material was imported from a partition (origin EXTERNAL), with the partition holding it. */
const BYOK_SOURCES: Record<string, string> = { acme: 'luna-1520101-par-acme', globex: 'cloudhsm-cluster-gx4kq7wz2pn', initech: 'luna-1530201-par-initech' };

/** A KCV (three bytes, hex) fixed by the material's name. */
function kcvOf(name: string): string {
  let h = 2166136261;
  for (const ch of name) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return (h & 0xffffff).toString(16).toUpperCase().padStart(6, '0');
}

/** The KCV incident: the day after globex's ledger material was deleted and re-imported (an aws-kms incident), the morning comparison fails. */
function kcvIncident(o: Pick<DemoSourceOptions, 'start' | 'days'>): number {
  return o.start.getTime() + Math.max(0, o.days - 1) * MS_DAY + 6 * 60 * MS_MIN;
}

/** The incident: acme's second HSM degrades for 40 minutes (slow, then failing) two days before the end. */
function degradation(o: Pick<DemoSourceOptions, 'start' | 'days'>): { from: number; to: number } {
  const day = Math.max(0, o.days - 2);
  const from = o.start.getTime() + day * MS_DAY + 14 * 60 * MS_MIN + 20 * MS_MIN;
  return { from, to: from + 40 * MS_MIN };
}

async function write(out: Writable, s: string): Promise<void> {
  if (!out.write(s)) await once(out, 'drain');
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export const keywatchJsonDemo: DemoSource = {
  source: 'keywatch-json',
  tenants: Object.fromEntries(PARTITIONS.map((p) => [p.account, p.tenant])),
  async write(o) {
    const rng = new Rng(o.seed * 7919 + 11);
    const files: string[] = [];
    let records = 0;
    const bad = o.incidents ? degradation(o) : undefined;
    const budget = o.records;
    // With a record budget (bench), the probe interval shrinks so the budget fits the span.
    const perRound = PARTITIONS.length * PROBES.length;
    const every = budget === undefined ? EVERY_MS : Math.max(10, Math.floor((o.days * MS_DAY) / Math.ceil(budget / perRound)));
    const end = o.start.getTime() + o.days * MS_DAY;
    let out: Writable | undefined;
    let day = -1;
    const close = async () => {
      if (!out) return;
      out.end();
      await once(out, 'finish');
    };
    for (let t = o.start.getTime(); t < end; t += every) {
      const d = Math.floor((t - o.start.getTime()) / MS_DAY);
      if (d !== day && (budget === undefined || !out)) {
        await close();
        day = d;
        const path = join(o.dir, `keywatch-json-probes-${iso(t).slice(0, 10)}.ndjson`);
        files.push(path);
        out = createWriteStream(path);
      }
      for (const p of PARTITIONS) {
        for (const probe of PROBES) {
          if (budget !== undefined && records >= budget) break;
          // Latency: a log-normal-ish spread around the partition's base, a slower tail at peak hours.
          const hour = new Date(t).getUTCHours();
          const load = hour >= 8 && hour < 18 ? 1.25 : 1;
          let latency = p.baseMs * probe.factor * load * Math.exp((rng.next() - 0.5) * 0.6);
          let failure: string | undefined;
          if (bad && p.account === 'luna-1520102-par-acme' && t >= bad.from && t < bad.to) {
            latency *= 40;
            if (t >= bad.from + 20 * MS_MIN) failure = 'CKR_DEVICE_ERROR';
          } else if (rng.next() < 0.0005) {
            failure = 'CKR_SESSION_HANDLE_INVALID';
          }
          const event = {
            source: 'pkcs11-probe',
            event_id: `probe:${p.account}:${probe.operation}:${t}`,
            event_time: iso(t + Math.floor(rng.next() * 900)),
            account: p.account,
            key_id: `${p.account}/keywatch-probe-${probe.operation === 'wrap' ? 'aes' : 'ec'}`,
            operation: probe.operation,
            vendor_operation: probe.vendor,
            outcome: failure ? 'failure' : 'success',
            ...(failure ? { error_code: failure } : {}),
            principal: 'keywatch-probe',
            principal_type: 'hsm_user',
            latency_ms: Math.round(latency * 100) / 100,
            attributes: { mechanism: probe.mechanism, module: p.module, slot: p.slot, probe: 'synthetic' },
          };
          await write(out as Writable, JSON.stringify(event) + '\n');
          records++;
        }
      }
      if (budget === undefined && (t - o.start.getTime()) % MS_DAY === 6 * 60 * MS_MIN) {
        for (const k of demoKeys().filter((x) => x.origin === 'EXTERNAL')) {
          const partition = BYOK_SOURCES[k.tenant] as string;
          const kcv = kcvOf(`${partition}/${k.arn}`);
          // The re-imported ledger material is not what the partition holds.
          const mismatch = o.incidents && t === kcvIncident(o) && k.tenant === 'globex' && k.region === 'us-east-1';
          const event = {
            source: 'pkcs11-probe',
            event_id: `probe:kcv:${k.arn}:${t}`,
            event_time: iso(t + 2_000 + Math.floor(rng.next() * 5_000)),
            tenant: k.tenant,
            account: k.account,
            region: k.region,
            key_id: k.arn,
            operation: 'describe',
            vendor_operation: 'KeyCheckValue',
            outcome: 'success',
            principal: 'keywatch-probe',
            principal_type: 'hsm_user',
            latency_ms: Math.round((3 + rng.next() * 4) * 100) / 100,
            attributes: { kcv, provider_kcv: mismatch ? kcvOf(`${k.arn}/re-imported`) : kcv, kcv_method: 'AES-CMAC', hsm_key: `${partition}/byok-${k.alias}`, probe: 'synthetic' },
          };
          await write(out as Writable, JSON.stringify(event) + '\n');
          records++;
        }
      }
      if (budget !== undefined && records >= budget) break;
    }
    await close();
    return { files, records };
  },
  incidents(o) {
    const bad = degradation(o);
    const incidents: DemoIncident[] = [
      {
        id: 'probe-hsm-degraded',
        at: iso(bad.from),
        what: "PKCS#11 probes on acme's Luna HSM 1520102 slow down fortyfold for 20 minutes, then fail with CKR_DEVICE_ERROR for 20 more",
        // Latency and device errors are health, not security: no detector covers them (failure-spike counts access-denied and invalid-state errors only).
        expect: { detectors: [] },
      },
      {
        id: 'kcv-mismatch-ledger',
        at: iso(kcvIncident(o)),
        what: "the morning KCV comparison finds that globex's ledger key in us-east-1 no longer holds the material of its HSM (the material re-imported the evening before is another key's)",
        expect: { detectors: ['kcv-mismatch'], tenant: 'globex', key_id: 'us-east-1' },
      },
    ];
    return incidents;
  },
};
