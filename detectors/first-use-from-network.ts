import type { Detector, Finding } from './detector.ts';
import { FirstUseSettings } from './first-use-by-principal.ts';
import { cryptoSpan } from './crypto-span.ts';

const chTime = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');

// The caller's address with an IPv4-mapped IPv6 form (`::ffff:192.0.2.1`) taken as the IPv4 address.
const IP_SQL = "if(startsWith(lower(source_ip), '::ffff:') AND isIPv4String(substring(source_ip, 8)), substring(source_ip, 8), source_ip)";
// The same, lower-casing only addresses that start with '::' (the rest cannot be IPv4-mapped).
const IP_SQL_FAST = "if(startsWith(source_ip, '::') AND startsWith(lower(source_ip), '::ffff:') AND isIPv4String(substring(source_ip, 8)), substring(source_ip, 8), source_ip)";

/**
 * The caller's network: the /24 of an IPv4 address, the /48 of an IPv6 one (a site's usual
 * allocation, RIPE-690), e.g. `198.51.100.0/24`, `2001:db8:4a::/48`; '' when `source_ip` is empty.
 */
const NETWORK_SQL = `multiIf(
  isIPv4String(${IP_SQL}), concat(toString(tupleElement(IPv4CIDRToRange(toIPv4OrDefault(${IP_SQL}), 24), 1)), '/24'),
  isIPv6String(${IP_SQL}), concat(toString(tupleElement(IPv6CIDRToRange(toIPv6OrDefault(${IP_SQL}), 48), 1)), '/48'),
  '')`;

// RFC 1918, shared address space (RFC 6598), loopback, link-local, unique local (RFC 4193).
const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', 'fc00::/7', 'fe80::/10', '::1/128'] as const;
const PRIVATE_SQL = `(${PRIVATE_RANGES.map((r) => `isIPAddressInRange(${IP_SQL}, '${r}')`).join(' OR ')})`;

// How far back a key's first use from a known address, and a network's earlier use, are looked for.
const LOOKBACK_DAYS = 400;
const DAY_MS = 86_400_000;
const fromCh = (s: string): Date => new Date(`${s.replace(' ', 'T')}Z`);

interface NewNetwork {
  tenant: string;
  key_id: string;
  network: string;
  principal: string;
  first: string;
  last: string;
  n: string;
  ids: string[];
  principals: string[];
  ips: string[];
  failures: string;
  operations: string[];
  sources: string[];
  private_net: number | string;
}

export const firstUseFromNetwork: Detector = {
  id: 'first-use-from-network',
  title: 'First use of a key from a network',
  severity: 'medium',
  description:
    'A key was used (crypto operations, successful or not) from a network it was not used from in the history window (setting `historyDays`, default 14): the /24 of the caller\'s IPv4 address or the /48 of its IPv6 address has uses in the examined events but none in the window before the first of them. Credentials taken off a workload are usually replayed from elsewhere; so is a key reached through a new VPN, a new region or a partner. Only keys with crypto use from a known address older than the window are examined (a new key has no usual network), and events without a caller address (AWS services, HSM audit lines, Google-internal callers) are left out. Private, loopback and link-local ranges are kept, because on-premises HSM clients and VPC endpoints call from them, but a new private network scores lower (low severity) than a new public one.',
  runbook:
    'Look up the network (whois, your IP address management) and the principals that used it (evidence). Ask the owner of the workload whether it moved (new subnet, NAT gateway, region, CI runner pool). If the principal is a person, check for a matching VPN or travel record. If nobody recognises the network: disable the principal\'s credentials, check what else was called from the network (keywatch sql "SELECT * FROM key_events WHERE source_ip LIKE \'<prefix>%\' ORDER BY event_time"), and restrict the key policy with aws:SourceIp / VPC endpoint conditions, VPC Service Controls or Key Vault firewall rules.',
  references: [
    'https://docs.aws.amazon.com/kms/latest/developerguide/conditions-aws.html',
    'https://cloud.google.com/vpc-service-controls/docs/overview',
    'https://learn.microsoft.com/azure/key-vault/general/network-security',
    'https://attack.mitre.org/techniques/T1550/',
    'Microsoft Sentinel: Ping Federate - Authentication from new IP (the same known-source-in-14-days pattern)',
  ],
  falsePositives: [
    'Workloads moved to a new subnet, NAT gateway or region; autoscaled runners with public addresses from a large pool',
    'Users working from home or travelling (allow-list human principals, or rely on first-use-by-principal instead)',
    'Load balancers and proxies that change their egress address (Vault without trusted X-Forwarded-For sees the balancer)',
  ],
  dedupeMinutes: 1440,
  historyDays: 14,
  settings: FirstUseSettings,
  async run(ctx) {
    const { historyDays } = FirstUseSettings.parse(ctx.settings);
    // Step 1: networks with uses of a key in scope and none in the window before their first use,
    // from the cheap columns only: each network's first use in scope and its latest use outside the
    // examined events (before them, or seen by an earlier run), in one pass. The network is kept
    // as numbers while grouping (one 64-bit hash of key and network, a small hash table) and written
    // out (NETWORK_SQL's text) for the new ones only.
    // Where the look back starts (earlier use cannot make a network seen in the window), from cheap columns.
    const span = await cryptoSpan(ctx);
    if (span.n === 0) return [];
    const fresh = await ctx.store.query<{ g: string; k: string }>(
      `SELECT toString(cityHash64(any(tenant), any(key_id), if(any(kind) = 4, concat(toString(any(v4)), '/24'), concat(toString(any(v6)), '/48')))) AS g,
              any(key_id) AS k
       FROM
       (
         SELECT tenant, key_id, event_time, kind, examined, before,
                if(kind = 4, tupleElement(IPv4CIDRToRange(toIPv4OrDefault(ip), 24), 1), toIPv4(0)) AS v4,
                if(kind = 6, tupleElement(IPv6CIDRToRange(toIPv6OrDefault(ip), 48), 1), toIPv6('::')) AS v6
         FROM
         (
           SELECT tenant, key_id, event_time, ${IP_SQL_FAST} AS ip, multiIf(isIPv4String(ip), 4, isIPv6String(ip), 6, 0) AS kind,
                  (${ctx.scope.sql}) AND key_id != '' AND (${ctx.notInternal}) AS examined,
                  NOT (${ctx.scope.sql}) AND event_time < {fn_to:DateTime64(3)} AS before
           FROM key_events
           WHERE operation_class = 'crypto' AND source_ip != '' AND event_time >= subtractDays({fn_lo:DateTime64(3)}, {fn_days:UInt32})
         )
         WHERE kind != 0
       )
       GROUP BY cityHash64(tenant, key_id, kind, v4, v6)
       HAVING countIf(examined) > 0 AND (countIf(before) = 0 OR maxIf(event_time, before) < subtractDays(minIf(event_time, examined), {fn_days:UInt32}))`,
      { ...ctx.scope.params, fn_days: historyDays, fn_to: chTime(ctx.scope.to), fn_lo: span.lo },
    );
    if (fresh.length === 0) return [];
    const rows = await ctx.store.query<Omit<NewNetwork, 'principal'> & { first_principal: string }>(
      `SELECT tenant, key_id, net AS network, argMin(principal, event_time) AS first_principal,
              toString(min(event_time)) AS first, toString(max(event_time)) AS last, count() AS n,
              groupArray(20)(event_id) AS ids, arraySlice(groupUniqArray(principal), 1, 10) AS principals,
              arraySlice(groupUniqArray(source_ip), 1, 10) AS ips, countIf(outcome = 'failure') AS failures,
              groupUniqArray(operation) AS operations, groupUniqArray(source) AS sources, max(priv) AS private_net
       FROM (
         SELECT *, ${NETWORK_SQL} AS net, ${PRIVATE_SQL} AS priv
         FROM key_events
         WHERE (${ctx.scope.sql}) AND operation_class = 'crypto' AND key_id != '' AND source_ip != '' AND (${ctx.notInternal})
           AND key_id IN {fn_keys:Array(String)}
       )
       WHERE net != '' AND toString(cityHash64(tenant, key_id, net)) IN {fn_nets:Array(String)}
       GROUP BY tenant, key_id, net
       ORDER BY min(event_time)`,
      { ...ctx.scope.params, fn_keys: [...new Set(fresh.map((p) => p.k))], fn_nets: fresh.map((p) => p.g) },
    );
    const nets: NewNetwork[] = rows.map(({ first_principal, ...r }) => ({ ...r, principal: first_principal }));
    if (nets.length === 0) return [];

    // Step 2, for the keys with a new network only: each key's first crypto use from a known
    // address (its usual networks start there), and each network's last use before the window.
    const windowStart = (p: NewNetwork) => new Date(fromCh(p.first).getTime() - historyDays * DAY_MS);
    const earliest = new Date(Math.min(...nets.map((p) => windowStart(p).getTime())) - LOOKBACK_DAYS * DAY_MS);
    const latest = new Date(Math.max(...nets.map((p) => windowStart(p).getTime())));
    const history = await ctx.store.query<{ tenant: string; key_id: string; network: string; first_t: string; last_t: string }>(
      `SELECT tenant, key_id, net AS network, toString(min(event_time)) AS first_t, toString(max(event_time)) AS last_t
       FROM (
         SELECT tenant, key_id, event_time, ${NETWORK_SQL} AS net
         FROM key_events
         WHERE tenant IN {fn_tenants:Array(String)} AND key_id IN {fn_keys:Array(String)} AND operation_class = 'crypto' AND source_ip != ''
           AND event_time >= {fn_earliest:DateTime64(3)} AND event_time < {fn_latest:DateTime64(3)}
       )
       WHERE net != ''
       GROUP BY tenant, key_id, net`,
      {
        fn_tenants: [...new Set(nets.map((p) => p.tenant))],
        fn_keys: [...new Set(nets.map((p) => p.key_id))],
        fn_earliest: chTime(earliest),
        fn_latest: chTime(latest),
      },
    );
    const keyFirst = new Map<string, string>();
    const lastUse = new Map<string, string>();
    for (const h of history) {
      const k = `${h.tenant}\u0000${h.key_id}`;
      const cur = keyFirst.get(k);
      if (cur === undefined || h.first_t < cur) keyFirst.set(k, h.first_t);
      lastUse.set(`${k}\u0000${h.network}`, h.last_t);
    }

    const findings: Finding[] = [];
    for (const r of nets) {
      const start = chTime(windowStart(r));
      const k = `${r.tenant}\u0000${r.key_id}`;
      const seen = keyFirst.get(k);
      // No use from a known address before the window: the key has no usual network yet.
      if (seen === undefined || seen >= start) continue;
      const previous = lastUse.get(`${k}\u0000${r.network}`);
      const priv = Number(r.private_net) === 1;
      const failures = Number(r.failures);
      findings.push({
        tenant: r.tenant,
        key_id: r.key_id,
        principal: r.principal,
        first_time: r.first,
        last_time: r.last,
        score: Math.min(100, (priv ? 35 : 60) + (failures > 0 ? 15 : 0)),
        severity: priv ? 'low' : 'medium',
        event_count: Number(r.n),
        event_ids: r.ids,
        evidence: {
          network: r.network,
          private_network: priv,
          history_days: historyDays,
          principals: [...r.principals].sort().join(','),
          source_ips: [...r.ips].sort().join(','),
          failures,
          operations: [...r.operations].sort().join(','),
          sources: [...r.sources].sort().join(','),
          key_first_use_from_address: seen,
          previous_use_from_network: previous !== undefined && previous < start ? previous : null,
        },
        title: `First use of ${r.key_id} from ${r.network}`,
        group: r.network,
      });
    }
    return findings;
  },
};
