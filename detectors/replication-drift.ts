import { z } from 'zod';
import type { Detector, Finding } from './detector.ts';
import { chTime, evaluationTime, fromCh, keyHistory } from './rotation-evidence.ts';

export const ReplicationDriftSettings = z
  .object({
    /**
     * Where each region's keys must also exist, for disaster recovery: AWS regions (only multi-Region
     * keys, `mrk-…`, can be paired: the replica has the same key id) and GCP locations, e.g.
     * `{"eu-central-1": "eu-west-1", "europe-west3": "europe-west4"}`.
     */
    drRegions: z.record(z.string().min(1), z.string().min(1)).default({}),
    /** Azure has no region in the log: each vault's DR vault by name, e.g. `{"acme-byok-kv": "acme-byok-kv-dr"}` (same key name expected there). */
    drVaults: z.record(z.string().min(1), z.string().min(1)).default({}),
    /** Time allowed for a replica to appear after its primary, or after ReplicateKey. */
    graceHours: z.number().min(0).max(24 * 30).default(24),
    /** Only keys with an event in this many days before the evaluation time are checked. */
    activeDays: z.number().int().min(1).max(400).default(30),
  })
  .strict();

type Settings = z.infer<typeof ReplicationDriftSettings>;

interface KeyRow {
  tenant: string;
  key_id: string;
  source: string;
  region: string;
  vault: string;
  first_seen: string;
  last_seen: string;
  last_event_id: string;
  scope_events: string;
  scope_event_ids: string[];
  deletion_operation: string;
  /** Successful ReplicateKey calls: [replica region, time, event id, principal]. */
  replications: [string, string, string, string][];
}

interface Expectation {
  row: KeyRow;
  expectedKey: string;
  expectedRegion: string;
  reason: 'ReplicateKey' | 'drRegions' | 'drVaults';
  since: Date;
  eventId: string;
  principal: string;
}

const AWS_ARN = /^(arn:[^:]+:kms:)([^:]+)(:\d+:key\/.+)$/;
const GCP_NAME = /^(projects\/[^/]+\/locations\/)([^/]+)(\/.+)$/;
const AZURE_KEY = /^(https:\/\/)([^./]+)(\.[^/]+\/keys\/.+)$/;

/** The DR counterparts a key must have, from its ReplicateKey calls and the settings. */
function expectations(row: KeyRow, s: Settings): Expectation[] {
  const out: Expectation[] = [];
  const since = fromCh(row.first_seen);
  if (row.source === 'aws-kms') {
    const arn = AWS_ARN.exec(row.key_id);
    if (!arn) return out;
    for (const [region, time, id, principal] of row.replications) {
      if (region && region !== arn[2]) out.push({ row, expectedKey: `${arn[1]}${region}${arn[3]}`, expectedRegion: region, reason: 'ReplicateKey', since: fromCh(time), eventId: id, principal });
    }
    const dr = s.drRegions[arn[2] ?? ''];
    if (dr && (arn[3] ?? '').includes(':key/mrk-') && !out.some((e) => e.expectedRegion === dr)) {
      out.push({ row, expectedKey: `${arn[1]}${dr}${arn[3]}`, expectedRegion: dr, reason: 'drRegions', since, eventId: row.last_event_id, principal: '' });
    }
  } else if (row.source === 'gcp-kms') {
    const name = GCP_NAME.exec(row.key_id);
    const dr = name ? s.drRegions[name[2] ?? ''] : undefined;
    if (name && dr) out.push({ row, expectedKey: `${name[1]}${dr}${name[3]}`, expectedRegion: dr, reason: 'drRegions', since, eventId: row.last_event_id, principal: '' });
  } else if (row.source === 'azure-key-vault') {
    const uri = AZURE_KEY.exec(row.key_id);
    const dr = uri ? s.drVaults[uri[2] ?? ''] : undefined;
    if (uri && dr) out.push({ row, expectedKey: `${uri[1]}${dr}${uri[3]}`, expectedRegion: dr, reason: 'drVaults', since, eventId: row.last_event_id, principal: '' });
  }
  return out;
}

export const replicationDrift: Detector = {
  id: 'replication-drift',
  title: 'Key missing from its disaster-recovery region',
  severity: 'medium',
  description:
    'A key in use that should also exist in a disaster-recovery region or vault, with no sign of it there. Expected copies come from: successful AWS ReplicateKey calls (attribute replica_region; the replica has the same multi-Region key id in the other region, and AWS logs a CreateKey for it there), ' +
    'and from settings: drRegions (AWS multi-Region keys, mrk-…, and GCP locations: the same key name in the DR location) and drVaults (Azure: the same key name in the DR vault). ' +
    'A copy exists when the store holds any event of the expected key id up to the evaluation time (its creation, use or management). Quiet without settings except for AWS ReplicateKey. ' +
    'State detector: evaluated at the run\'s time for keys with an event in the scope and any event in the last activeDays days, not scheduled for deletion, once graceHours have passed since the ReplicateKey call or the key\'s first appearance; one alert per key, DR region and day. ' +
    'The DR region\'s logs must be ingested too: an idle replica whose creation predates the store leaves no trace and looks missing.',
  runbook:
    'Check the copy with the provider: AWS aws kms describe-key --region <dr> --key-id <mrk id> (MultiRegionConfiguration lists the replicas); GCP gcloud kms keys describe in the DR location; Azure az keyvault key show --vault-name <dr vault>. ' +
    'If it exists, make sure that region\'s audit logs are collected (CloudTrail in that region, the DR vault\'s AuditEvent diagnostic setting) and ingested. If it does not: re-run ReplicateKey (and check why it failed: SCPs denying kms:* in the DR region, the replica deleted), or create and back-fill the DR key (GCP/Azure keys are independent per location: import the same material for BYOK, or Azure KeyBackup/KeyRestore within the same geography).',
  references: [
    'https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-replicate.html',
    'https://docs.aws.amazon.com/kms/latest/developerguide/ct-replicate-key.html',
    'https://cloud.google.com/kms/docs/locations',
    'https://learn.microsoft.com/azure/key-vault/general/disaster-recovery-guidance',
  ],
  falsePositives: [
    'A DR replica that exists but left no event in the store (created before the store\'s history, never used, and its region\'s logs not collected)',
    'A drRegions entry for a region whose keys are not all meant to be replicated: narrow the mapping or allow-list the keys',
    'Replicas created much later than graceHours after the primary, by a scheduled DR job',
  ],
  dedupeMinutes: 1440,
  settings: ReplicationDriftSettings,
  async run(ctx) {
    const s = ReplicationDriftSettings.parse(ctx.settings);
    const asOf = evaluationTime(ctx);
    const rows: KeyRow[] = await keyHistory(ctx, asOf);
    const due: Expectation[] = [];
    for (const r of rows) {
      if (r.deletion_operation === 'schedule_deletion' || r.deletion_operation === 'destroy_version') continue;
      if (asOf.getTime() - fromCh(r.last_seen).getTime() > s.activeDays * 86_400_000) continue;
      for (const e of expectations(r, s)) {
        if (asOf.getTime() - e.since.getTime() > s.graceHours * 3_600_000) due.push(e);
      }
    }
    if (due.length === 0) return [];
    const seen = await ctx.store.query<{ key_id: string }>(
      'SELECT DISTINCT key_id FROM key_events WHERE key_id IN {ids:Array(String)} AND event_time <= {as_of:DateTime64(3)}',
      { ids: [...new Set(due.map((e) => e.expectedKey))], as_of: chTime(asOf) },
    );
    const present = new Set(seen.map((x) => x.key_id));
    return due
      .filter((e) => !present.has(e.expectedKey))
      .map((e): Finding => ({
        tenant: e.row.tenant,
        key_id: e.row.key_id,
        principal: e.principal,
        first_time: e.row.last_seen,
        last_time: e.row.last_seen,
        score: 60,
        event_count: Number(e.row.scope_events),
        event_ids: [...new Set([e.eventId, e.row.last_event_id, ...e.row.scope_event_ids])].slice(0, 20),
        evidence: {
          source: e.row.source,
          expected_key: e.expectedKey,
          expected_region: e.expectedRegion,
          region: e.row.region || e.row.vault || null,
          expected_because: e.reason,
          expected_since: chTime(e.since),
          hours_missing: Math.round((asOf.getTime() - e.since.getTime()) / 360_000) / 10,
        },
        title: `Key has no copy in ${e.expectedRegion}: ${e.row.key_id}`,
        group: e.expectedRegion,
      }));
  },
};
