import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { ATTESTATION_UID } from './uids.ts';
import { barChartPanel, EVENT_FILTERS, filterVariables, filters, tablePanel, withPanelIds } from './panels.ts';

const attestationFilters = filters({ tenant: 'tenant', key: 'key_id' });

/**
 * Every key in the range (from key_events, plus any key with an attestation) with its latest
 * attestation; a key never attested has the verdict 'no evidence', which is itself a finding.
 */
const VERDICT_PER_KEY = `SELECT k.tenant AS tenant, k.key_id AS key_id, if(a.key_id = '', 'no evidence', a.last_verdict) AS verdict,
  a.last_format AS format, a.last_policy AS policy, a.last_verified AS verified_at,
  arrayStringConcat(a.last_failed_checks, ', ') AS failed_checks, arrayStringConcat(a.last_warnings, ', ') AS warnings,
  arrayStringConcat(a.last_anchors, ', ') AS anchors, a.last_evidence AS evidence
FROM (
  SELECT DISTINCT tenant, key_id FROM key_events WHERE $__timeFilter(event_time) AND ${filters(EVENT_FILTERS)}
  UNION DISTINCT
  SELECT DISTINCT tenant, key_id FROM attestations WHERE ${attestationFilters}
) AS k
LEFT JOIN (
  SELECT tenant, key_id, max(verified_at) AS last_verified, argMax(verdict, verified_at) AS last_verdict, argMax(format, verified_at) AS last_format,
    argMax(policy, verified_at) AS last_policy, argMax(failed_checks, verified_at) AS last_failed_checks, argMax(warnings, verified_at) AS last_warnings,
    argMax(anchors, verified_at) AS last_anchors, argMax(evidence, verified_at) AS last_evidence
  FROM attestations FINAL
  GROUP BY tenant, key_id
) AS a ON k.tenant = a.tenant AND k.key_id = a.key_id`;

/** The attestation dashboard: the verdict per key with the evidence behind it. */
export function attestationDashboard(): dashboard.Dashboard {
  const d = new dashboard.DashboardBuilder('keywatch / Attestation')
    .uid(ATTESTATION_UID)
    .description('Latest key-attestation verdict per key, with its failed checks, warnings, trust anchors and evidence.')
    .tags(['keywatch', 'attestation'])
    .time({ from: 'now-30d', to: 'now' })
    .timezone('utc')
    .readonly()
    .variables(filterVariables())
    .withPanel(
      barChartPanel({
        title: 'Keys by verdict',
        description: "How many keys have each latest attestation verdict; 'no evidence' counts keys never attested.",
        sql: `SELECT verdict, count() AS keys FROM (${VERDICT_PER_KEY}) GROUP BY verdict ORDER BY keys DESC`,
        w: 24,
        h: 6,
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Verdict per key',
        description: 'The latest attestation of each key: verdict, proof format, policy, failed checks, warnings, the trust anchors used and the evidence (JSON).',
        sql: `${VERDICT_PER_KEY}
ORDER BY indexOf(['fail', 'policy-fail', 'no evidence', 'pass'], verdict), tenant, key_id
LIMIT 1000`,
        w: 24,
        h: 14,
      }),
    )
    .build();
  return withPanelIds(d);
}
