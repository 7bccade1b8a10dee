import { azureHomeTenants, domainInside, gcpProjectInside, gcpServiceAccountProject, insideAccounts } from './cross-account-use.ts';
import type { Detector, DetectorContext, Finding, Severity } from './detector.ts';
import { AWS_ACCOUNT_OF } from './external-grant.ts';

const DAY_MS = 86_400_000;
const chText = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');
const POLICY_EXCERPT_CHARS = 4000;

// ---------------------------------------------------------------------------------------------
// AWS KMS key policies (PutKeyPolicy, and CreateKey / ReplicateKey with a policy).
//
// Each Allow statement of the policy JSON is read in SQL: its principals (`"*"`, `{"AWS": "*"}`,
// `{"AWS": [...]}`; an Allow with NotPrincipal counts as `*`), whether its Condition restricts the
// caller, whether its actions are read-only, and the accounts it names. A Condition restricts when
// a positive operator (StringEquals, StringEqualsIgnoreCase, StringLike, ArnEquals, ArnLike, also
// with ForAnyValue:) on one of the keys below has a concrete value. `...IfExists` operators do not
// count (they pass when the key is absent, which it is for principals outside any organization),
// nor do ForAllValues: (true for an empty set), negated operators, or a bare `*` value.
// kms:ViaService alone does not restrict: any account may call through the service.

/** Organization, network-perimeter keys: a concrete value restricts; the value cannot be checked against the configuration. */
const ORG_KEYS = ['aws:principalorgid', 'aws:principalorgpaths', 'aws:sourceorgid', 'aws:sourceorgpaths', 'aws:sourcevpce', 'aws:sourcevpc'];
/** Keys whose values are account ids: they restrict, and the accounts are judged like principals. */
const ACCOUNT_KEYS = ['kms:calleraccount', 'aws:principalaccount', 'aws:sourceaccount'];
/** Keys whose values are ARNs: they restrict when the ARN names an account, which is then judged. */
const ARN_KEYS = ['aws:principalarn', 'aws:sourcearn'];

const sqlList = (xs: readonly string[]) => `(${xs.map((x) => `'${x}'`).join(', ')})`;
const POSITIVE = (op: string) => `replaceOne(${op}, 'foranyvalue:', '') IN ('stringequals', 'stringequalsignorecase', 'stringlike', 'arnequals', 'arnlike')`;
const ARN_ACCOUNT = (v: string) => `extract(${v}, '^arn:[a-z-]+:[^:]*:[^:]*:([0-9]{12}):')`;

/** Allow statements of a policy column: the Statement array, or a single Statement object. */
const allowsOf = (p: string) =>
  `arrayFilter(s -> JSONExtractString(s, 'Effect') = 'Allow',
     multiIf(JSONType(${p}, 'Statement') = 'Array', JSONExtractArrayRaw(${p}, 'Statement'), JSONType(${p}, 'Statement') = 'Object', [JSONExtractRaw(${p}, 'Statement')], emptyArrayString()))`;

/**
 * Per Allow statement: (id, wildcard principal, restricted by condition, read-only actions,
 * accounts of its principals, accounts of its conditions). Two passes so that the conditions are
 * parsed once per statement.
 */
const featuresOf = (allows: string) => `arrayMap(x -> tuple(
      tupleElement(x, 1),
      has(tupleElement(x, 2), '*'),
      arrayExists(c -> ${POSITIVE('tupleElement(c, 1)')} AND (
          (tupleElement(c, 2) IN ${sqlList(ORG_KEYS)} AND arrayExists(v -> v NOT IN ('', '*'), tupleElement(c, 3)))
          OR (tupleElement(c, 2) IN ${sqlList(ACCOUNT_KEYS)} AND arrayExists(v -> match(v, '^[0-9]{12}$'), tupleElement(c, 3)))
          OR (tupleElement(c, 2) IN ${sqlList(ARN_KEYS)} AND arrayExists(v -> ${ARN_ACCOUNT('v')} != '', tupleElement(c, 3)))), tupleElement(x, 3)),
      tupleElement(x, 4),
      arrayFilter(a -> a != '', arrayMap(p -> ${AWS_ACCOUNT_OF('p')}, tupleElement(x, 2))),
      arrayFilter(a -> a != '', arrayFlatten(arrayMap(c -> multiIf(
          ${POSITIVE('tupleElement(c, 1)')} AND tupleElement(c, 2) IN ${sqlList(ACCOUNT_KEYS)}, arrayMap(v -> if(match(v, '^[0-9]{12}$'), v, ''), tupleElement(c, 3)),
          ${POSITIVE('tupleElement(c, 1)')} AND tupleElement(c, 2) IN ${sqlList(ARN_KEYS)}, arrayMap(v -> ${ARN_ACCOUNT('v')}, tupleElement(c, 3)),
          emptyArrayString()), tupleElement(x, 3))))),
    arrayMap((s, i) -> tuple(
        if(JSONExtractString(s, 'Sid') != '', JSONExtractString(s, 'Sid'), concat('#', toString(i))),
        arrayMap(p -> trimBoth(p), arrayConcat(
          multiIf(JSONType(s, 'Principal') = 'String', [JSONExtractString(s, 'Principal')],
                  JSONType(s, 'Principal', 'AWS') = 'String', [JSONExtractString(s, 'Principal', 'AWS')],
                  JSONType(s, 'Principal', 'AWS') = 'Array', JSONExtract(s, 'Principal', 'AWS', 'Array(String)'),
                  emptyArrayString()),
          if(JSONHas(s, 'NotPrincipal'), ['*'], emptyArrayString()))),
        arrayFlatten(arrayMap(op -> arrayMap(kv -> tuple(lower(tupleElement(op, 1)), lower(tupleElement(kv, 1)),
              if(JSONType(tupleElement(kv, 2)) = 'Array', JSONExtract(tupleElement(kv, 2), 'Array(String)'), [JSONExtractString(tupleElement(kv, 2))])),
            JSONExtractKeysAndValuesRaw(tupleElement(op, 2))),
          JSONExtractKeysAndValuesRaw(s, 'Condition'))),
        NOT JSONHas(s, 'NotAction') AND arrayAll(a -> match(lower(a), '^kms:(describe|get|list)'),
          if(JSONType(s, 'Action') = 'String', [JSONExtractString(s, 'Action')], JSONExtract(s, 'Action', 'Array(String)')))
          AND JSONType(s, 'Action') IN ('String', 'Array')),
      ${allows}, arrayEnumerate(${allows})))`;

/** Statement ids that open the key to anyone; whether one of them allows more than reading; the accounts the policy names. */
const PUBLIC_IDS = (f: string) => `arrayMap(x -> tupleElement(x, 1), arrayFilter(x -> tupleElement(x, 2) AND NOT tupleElement(x, 3), ${f}))`;
const PUBLIC_USE = (f: string) => `arrayExists(x -> tupleElement(x, 2) AND NOT tupleElement(x, 3) AND NOT tupleElement(x, 4), ${f})`;
const NAMED_ACCOUNTS = (f: string) => `arrayDistinct(arrayFlatten(arrayMap(x -> if(tupleElement(x, 2), tupleElement(x, 6), tupleElement(x, 5)), ${f})))`;

interface AwsRow {
  event_id: string;
  tenant: string;
  key_id: string;
  principal: string;
  key_account: string;
  t: string;
  source_ip: string;
  vendor_operation: string;
  policy: string;
  parsed: number;
  has_prev: number;
  cur_public: string[];
  cur_public_use: number;
  cur_accounts: string[];
  prev_public: number;
  prev_accounts: string[];
}

async function awsFindings(ctx: DetectorContext, insideOf: () => Promise<ReadonlySet<string>>): Promise<Finding[]> {
  const rows = await ctx.store.query<AwsRow>(
    `SELECT event_id, tenant, key_id, principal, key_account, t, source_ip, vendor_operation, policy, parsed, has_prev,
            ${PUBLIC_IDS('cur')} AS cur_public, ${PUBLIC_USE('cur')} AS cur_public_use, ${NAMED_ACCOUNTS('cur')} AS cur_accounts,
            length(${PUBLIC_IDS('prev')}) > 0 AS prev_public, ${NAMED_ACCOUNTS('prev')} AS prev_accounts
     FROM (
       SELECT event_id, tenant, key_id, principal, key_account, t, source_ip, vendor_operation, policy, prev_policy != '' AS has_prev,
              JSONType(policy, 'Statement') IN ('Array', 'Object') AS parsed,
              ${featuresOf(allowsOf('policy'))} AS cur, ${featuresOf(allowsOf('prev_policy'))} AS prev
       FROM (
         SELECT event_id, tenant, key_id, principal, principal_type, lower(account) AS key_account, event_time, ingest_time, toString(event_time) AS t,
                source_ip, vendor_operation, attributes['policy'] AS policy,
                lagInFrame(attributes['policy'], 1, '') OVER (PARTITION BY key_id ORDER BY event_time, event_id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS prev_policy
         FROM key_events
         WHERE source = 'aws-kms' AND outcome = 'success' AND attributes['policy'] != ''
           AND key_id IN (SELECT key_id FROM key_events WHERE (${ctx.scope.sql}) AND source = 'aws-kms' AND attributes['policy'] != '')
       )
       WHERE (${ctx.scope.sql}) AND (${ctx.notInternal})
     )
     WHERE parsed
     ORDER BY t, event_id`,
    ctx.scope.params,
  );
  if (rows.length === 0) return [];
  const inside = await insideOf();
  const out: Finding[] = [];
  for (const r of rows) {
    const known = Number(r.has_prev) === 1;
    const outside = r.cur_accounts.filter((a) => a !== r.key_account && !inside.has(a));
    const newOutside = known ? outside.filter((a) => !r.prev_accounts.includes(a)) : outside;
    const newPublic = r.cur_public.length > 0 && !(known && Number(r.prev_public) === 1);
    if (!newPublic && newOutside.length === 0) continue;
    const publicUse = Number(r.cur_public_use) === 1;
    // Public use is critical; an outside account high; "*" that may only describe the key medium.
    const severity: Severity = newPublic && publicUse ? 'critical' : newOutside.length > 0 ? 'high' : 'medium';
    out.push({
      tenant: r.tenant,
      key_id: r.key_id,
      principal: r.principal,
      first_time: r.t,
      last_time: r.t,
      score: SCORE[severity],
      severity,
      event_count: 1,
      event_ids: [r.event_id],
      evidence: {
        vendor: 'aws-kms',
        vendor_operation: r.vendor_operation,
        change: newPublic ? 'public' : 'outside_account',
        public_statements: newPublic ? r.cur_public.join(',') : '',
        public_allows_use: newPublic ? publicUse : false,
        new_outside_accounts: newOutside.join(','),
        outside_accounts: outside.join(','),
        key_account: r.key_account,
        previous_policy_known: known,
        source_ip: r.source_ip,
        policy: r.policy.slice(0, POLICY_EXCERPT_CHARS),
      },
      title: newPublic
        ? `Key policy of ${r.key_id} allows any AWS principal (${r.cur_public.join(', ')})`
        : `Key policy of ${r.key_id} now allows outside account${newOutside.length > 1 ? 's' : ''} ${newOutside.join(', ')}`,
      group: newPublic ? 'public' : 'outside_account',
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// GCP Cloud KMS IAM policies (SetIamPolicy on a key or key ring).

/** Roles that only read metadata or the public key; every other role (custom ones included) uses or controls the key. */
const GCP_READ_ROLES = new Set(['roles/cloudkms.viewer', 'roles/cloudkms.publicKeyViewer', 'roles/cloudkms.verifier', 'roles/viewer', 'roles/browser', 'roles/iam.securityReviewer']);
// Publishing the public key of an asymmetric key to everyone is a documented use of this role.
const GCP_PUBLIC_KEY_ROLE = 'roles/cloudkms.publicKeyViewer';

interface GcpRow {
  event_id: string;
  tenant: string;
  key_id: string;
  key_ring: string;
  principal: string;
  principal_type: string;
  key_account: string;
  t: string;
  source_ip: string;
  has_delta: number;
  added: string[];
  /** `<role> <member>` (neither contains a space; arrayFlatten would flatten [role, member] pairs too). */
  bindings: string[];
}

type GcpVerdict = { kind: 'public' | 'outside'; severity: Severity; role: string; member: string; outsider: string };

function judgeGcpMember(role: string, member: string, projectInside: (p: string) => boolean, insideDomains: readonly string[] | undefined): GcpVerdict | undefined {
  const sensitive = !GCP_READ_ROLES.has(role);
  if (member === 'allUsers' || member === 'allAuthenticatedUsers') {
    if (role === GCP_PUBLIC_KEY_ROLE) return undefined;
    return { kind: 'public', severity: sensitive ? 'critical' : 'medium', role, member, outsider: member };
  }
  if (!sensitive) return undefined;
  const colon = member.indexOf(':');
  const type = member.slice(0, colon);
  const value = member.slice(colon + 1);
  if (type === 'serviceAccount') {
    const project = gcpServiceAccountProject(value.split('?')[0] ?? '');
    return project && !projectInside(project) ? { kind: 'outside', severity: 'high', role, member, outsider: project } : undefined;
  }
  if (type === 'projectOwner' || type === 'projectEditor' || type === 'projectViewer') {
    return !projectInside(value.toLowerCase()) ? { kind: 'outside', severity: 'high', role, member, outsider: value } : undefined;
  }
  if ((type === 'user' || type === 'group' || type === 'domain') && insideDomains) {
    const domain = type === 'domain' ? value : value.slice(value.lastIndexOf('@') + 1);
    return domain && !domainInside(domain, insideDomains) ? { kind: 'outside', severity: 'high', role, member, outsider: domain.toLowerCase() } : undefined;
  }
  // deleted:…, principal:// and principalSet:// (workload identity pools, named by project number): not judged.
  return undefined;
}

async function gcpFindings(ctx: DetectorContext, insideOf: () => Promise<ReadonlySet<string>>): Promise<Finding[]> {
  const rows = await ctx.store.query<GcpRow>(
    `SELECT event_id, tenant, key_id, attributes['key_ring'] AS key_ring, principal, principal_type, lower(account) AS key_account,
            toString(event_time) AS t, source_ip,
            attributes['added_members'] != '' OR attributes['removed_members'] != '' AS has_delta,
            arrayFilter(m -> m != '', splitByChar(',', attributes['added_members'])) AS added,
            arrayFlatten(arrayMap(b -> arrayMap(m -> concat(JSONExtractString(b, 'role'), ' ', m), JSONExtract(b, 'members', 'Array(String)')),
                                  JSONExtractArrayRaw(attributes['policy_bindings']))) AS bindings
     FROM key_events
     WHERE (${ctx.scope.sql}) AND source = 'gcp-kms' AND vendor_operation = 'SetIamPolicy' AND outcome = 'success' AND (${ctx.notInternal})
     ORDER BY t, event_id`,
    ctx.scope.params,
  );
  if (rows.length === 0) return [];
  const inside = await insideOf();
  const out: Finding[] = [];
  for (const r of rows) {
    // Domains inside: the configured ones; without any, the granting user's own domain; a
    // service-account granter (Terraform) gives no domain to compare with, so none is judged.
    const at = r.principal.lastIndexOf('@');
    const insideDomains = ctx.organization.domains.length > 0 ? ctx.organization.domains : r.principal_type === 'user' && at > 0 ? [r.principal.slice(at + 1)] : undefined;
    const projectInside = (p: string) => p === r.key_account || gcpProjectInside(p, inside, ctx.organization.domains);
    const pairs = r.bindings.map((b) => ({ role: b.slice(0, b.indexOf(' ')), member: b.slice(b.indexOf(' ') + 1) }));
    const candidates =
      Number(r.has_delta) === 1
        ? [...pairs.filter((p) => r.added.includes(p.member)), ...r.added.filter((m) => !pairs.some((p) => p.member === m)).map((member) => ({ role: '', member }))]
        : pairs;
    const verdicts = candidates.map((c) => judgeGcpMember(c.role, c.member, projectInside, insideDomains)).filter((v): v is GcpVerdict => v !== undefined);
    if (verdicts.length === 0) continue;
    const worst = verdicts.reduce((a, b) => (RANK[b.severity] > RANK[a.severity] ? b : a));
    const resource = r.key_id || r.key_ring;
    out.push({
      tenant: r.tenant,
      key_id: resource,
      principal: r.principal,
      first_time: r.t,
      last_time: r.t,
      score: SCORE[worst.severity],
      severity: worst.severity,
      event_count: 1,
      event_ids: [r.event_id],
      evidence: {
        vendor: 'gcp-kms',
        vendor_operation: 'SetIamPolicy',
        change: worst.kind === 'public' ? 'public' : 'outside_member',
        resource_level: r.key_id ? 'key' : 'key_ring',
        members: [...new Set(verdicts.map((v) => v.member))].join(','),
        roles: [...new Set(verdicts.map((v) => v.role || '(unknown)'))].join(','),
        outsiders: [...new Set(verdicts.map((v) => v.outsider))].join(','),
        added_only: Number(r.has_delta) === 1,
        inside_domains: insideDomains?.join(',') ?? '',
        key_account: r.key_account,
        source_ip: r.source_ip,
      },
      title: `${r.key_id ? 'Key' : 'Key ring'} ${resource} ${worst.kind === 'public' ? 'opened to' : 'granted to outside'} ${worst.outsider} (${worst.role || 'unknown role'})`,
      group: worst.kind,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Azure Key Vault access policies (VaultPatch / VaultPut) and Managed HSM local RBAC.

/** Access-policy key permissions that expose plaintext, sign, or change or remove keys; get, list, encrypt, wrapKey, verify and getrotationpolicy do not. */
const AZURE_SENSITIVE = new Set(['decrypt', 'unwrapkey', 'sign', 'release', 'import', 'create', 'update', 'delete', 'purge', 'backup', 'restore', 'recover', 'rotate', 'setrotationpolicy', 'all']);

interface AzureRow {
  event_id: string;
  tenant: string;
  key_id: string;
  resource: string;
  principal: string;
  account: string;
  t: string;
  source_ip: string;
  vendor_operation: string;
  vault_type: string;
  request_uri: string;
  caller_tenant: string;
  policies: string[][];
}

async function azureFindings(ctx: DetectorContext): Promise<Finding[]> {
  const rows = await ctx.store.query<AzureRow>(
    `SELECT event_id, tenant, key_id, resource, principal, account, t, source_ip, vendor_operation, vault_type, request_uri, caller_tenant,
            arrayConcat(
              arrayMap(p -> [lower(if(JSONHas(p, 'TenantId'), JSONExtractString(p, 'TenantId'), JSONExtractString(p, 'tenantId'))),
                             if(JSONHas(p, 'ObjectId'), JSONExtractString(p, 'ObjectId'), JSONExtractString(p, 'objectId')),
                             arrayStringConcat(arrayMap(k -> lower(k), if(JSONHas(p, 'Permissions'), JSONExtract(p, 'Permissions', 'keys', 'Array(String)'), JSONExtract(p, 'permissions', 'keys', 'Array(String)'))), ',')],
                       multiIf(aap = '', emptyArrayString(), JSONType(aap) = 'Array', JSONExtractArrayRaw(aap), JSONType(aap) = 'Object', [aap], emptyArrayString())),
              if(flat_oid = '' AND flat_perms = '', [], [['', flat_oid,
                 arrayStringConcat(arrayMap(k -> lower(trimBoth(k)), if(startsWith(flat_perms, '['), JSONExtract(flat_perms, 'Array(String)'), splitByChar(',', flat_perms))), ',')]])) AS policies
     FROM (
       SELECT event_id, tenant, key_id, if(attributes['object_id'] LIKE 'https://%', attributes['object_id'], attributes['resource_id']) AS resource,
              principal, account, toString(event_time) AS t, source_ip, vendor_operation, attributes['vault_type'] AS vault_type,
              attributes['request_uri'] AS request_uri, lower(attributes['tenant_id']) AS caller_tenant,
              attributes['added_access_policy'] AS aap, attributes['added_policy_object_id'] AS flat_oid, attributes['added_policy_key_permissions'] AS flat_perms
       FROM key_events
       WHERE (${ctx.scope.sql}) AND source = 'azure-key-vault' AND operation = 'update_policy' AND outcome = 'success' AND (${ctx.notInternal})
         AND ((vendor_operation IN ('VaultPatch', 'VaultPut') AND (attributes['added_access_policy'] != '' OR attributes['added_policy_object_id'] != '' OR attributes['added_policy_key_permissions'] != ''))
              OR ((startsWith(vendor_operation, 'RoleAssignment') OR startsWith(vendor_operation, 'RoleDefinition')) AND NOT endsWith(vendor_operation, 'Delete')))
     )
     ORDER BY t, event_id`,
    ctx.scope.params,
  );
  if (rows.length === 0) return [];
  const homes = await azureHomeTenants(ctx);
  const insideTenants = new Set([...ctx.organization.accounts.map((a) => a.toLowerCase()), ...homes.values()]);
  const out: Finding[] = [];
  for (const r of rows) {
    const base = { tenant: r.tenant, key_id: r.key_id || r.resource, principal: r.principal, first_time: r.t, last_time: r.t, event_count: 1, event_ids: [r.event_id] };
    if (r.vendor_operation.startsWith('Role')) {
      // The assignment's role, scope and assignee are not in the log: the change is all there is.
      out.push({
        ...base,
        score: SCORE.low,
        severity: 'low',
        evidence: { vendor: 'azure-key-vault', vendor_operation: r.vendor_operation, change: 'managed_hsm_rbac', vault_type: r.vault_type, request_uri: r.request_uri, caller_tenant: r.caller_tenant, source_ip: r.source_ip, content_visible: false },
        title: `Managed HSM local RBAC changed (${r.vendor_operation}): ${base.key_id}`,
        group: 'managed_hsm_rbac',
      });
      continue;
    }
    const granted = r.policies
      .map(([tid, oid, perms]) => ({ tid: tid ?? '', oid: oid ?? '', perms: (perms ?? '').split(',').filter((p) => p !== '') }))
      .map((p) => ({ ...p, sensitive: p.perms.filter((x) => AZURE_SENSITIVE.has(x)) }))
      .filter((p) => p.sensitive.length > 0);
    if (granted.length === 0) continue;
    const foreign = granted.filter((p) => p.tid !== '' && p.tid !== r.caller_tenant && !insideTenants.has(p.tid));
    const severity: Severity = foreign.length > 0 ? 'high' : 'medium';
    out.push({
      ...base,
      score: SCORE[severity],
      severity,
      evidence: {
        vendor: 'azure-key-vault',
        vendor_operation: r.vendor_operation,
        change: foreign.length > 0 ? 'outside_tenant' : 'access_policy_added',
        object_ids: granted.map((p) => p.oid).join(','),
        key_permissions: [...new Set(granted.flatMap((p) => p.perms))].join(','),
        sensitive_permissions: [...new Set(granted.flatMap((p) => p.sensitive))].join(','),
        policy_tenants: [...new Set(granted.map((p) => p.tid).filter((t) => t !== ''))].join(','),
        outside_tenants: [...new Set(foreign.map((p) => p.tid))].join(','),
        caller_tenant: r.caller_tenant,
        source_ip: r.source_ip,
      },
      title: `Vault access policy grants ${[...new Set(granted.flatMap((p) => p.sensitive))].join(', ')} on keys${foreign.length > 0 ? ` to outside tenant ${foreign[0]?.tid ?? ''}` : ''}: ${base.key_id}`,
      group: 'access_policy',
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// HashiCorp Vault ACL policies. The audit log HMACs the policy text, so only the write is seen;
// it is reported when the policy is one that granted transit key use in the month around the run.

interface VaultRow {
  event_id: string;
  tenant: string;
  account: string;
  principal: string;
  t: string;
  source_ip: string;
  vendor_operation: string;
  policy_name: string;
  path: string;
  keys: string[];
  uses: string;
}

async function vaultFindings(ctx: DetectorContext): Promise<Finding[]> {
  const rows = await ctx.store.query<VaultRow>(
    `SELECT p.event_id AS event_id, p.tenant AS tenant, p.account AS account, p.principal AS principal, p.t AS t, p.source_ip AS source_ip,
            p.vendor_operation AS vendor_operation, p.policy_name AS policy_name, p.path AS path, g.keys AS keys, g.uses AS uses
     FROM (
       SELECT event_id, tenant, account, principal, toString(event_time) AS t, source_ip, vendor_operation, attributes['policy_name'] AS policy_name, attributes['path'] AS path
       FROM key_events
       WHERE (${ctx.scope.sql}) AND source = 'vault' AND operation = 'update_policy' AND outcome = 'success'
         AND NOT startsWith(vendor_operation, 'delete ') AND attributes['policy_name'] != '' AND (${ctx.notInternal})
     ) AS p
     INNER JOIN (
       SELECT account, policy_name, arraySlice(arraySort(groupUniqArray(key_id)), 1, 10) AS keys, count() AS uses
       FROM (
         SELECT account, key_id, arrayJoin(splitByChar(',', attributes['granting_policies'])) AS policy_name
         FROM key_events
         WHERE source = 'vault' AND key_id != '' AND operation_class = 'crypto' AND attributes['granting_policies'] != ''
           AND event_time >= {vault_from:DateTime64(3)} AND event_time < {vault_to:DateTime64(3)}
       )
       GROUP BY account, policy_name
     ) AS g ON p.account = g.account AND p.policy_name = g.policy_name
     ORDER BY t, event_id`,
    { ...ctx.scope.params, vault_from: chText(new Date(ctx.scope.from.getTime() - 30 * DAY_MS)), vault_to: chText(new Date(ctx.scope.to.getTime() + DAY_MS)) },
  );
  return rows.map(
    (r): Finding => ({
      tenant: r.tenant,
      key_id: r.account === 'root' ? r.path : `${r.account}/${r.path}`,
      principal: r.principal,
      first_time: r.t,
      last_time: r.t,
      score: SCORE.low,
      severity: 'low',
      event_count: 1,
      event_ids: [r.event_id],
      evidence: {
        vendor: 'vault',
        vendor_operation: r.vendor_operation,
        change: 'key_policy_rewritten',
        policy_name: r.policy_name,
        governs_keys: r.keys.join(','),
        key_uses_granted: Number(r.uses),
        namespace: r.account,
        source_ip: r.source_ip,
        content_visible: false,
      },
      title: `Vault policy ${r.policy_name}, which grants use of ${r.keys.length} transit key${r.keys.length === 1 ? '' : 's'}, was rewritten`,
      group: r.policy_name,
    }),
  );
}

const RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
const SCORE: Record<Severity, number> = { info: 10, low: 30, medium: 55, high: 80, critical: 95 };

export const policyWidened: Detector = {
  id: 'policy-widened',
  title: 'Key policy widened to the public or outside the organization',
  severity: 'high',
  description:
    'A key policy or IAM change that opens a key to everyone or to principals outside the organization. ' +
    'AWS (PutKeyPolicy; CreateKey and ReplicateKey with a policy): the `policy` JSON is read with ClickHouse JSON functions; an Allow statement with Principal "*" / {"AWS":"*"} (or Allow with NotPrincipal) and no restricting Condition is critical (medium when it allows only kms:Describe*/Get*/List*); ' +
    'a Condition restricts when a positive operator (StringEquals, StringLike, ArnEquals, ArnLike, ForAnyValue:) gives a concrete value for aws:PrincipalOrgID / PrincipalOrgPaths / SourceOrgID / SourceVpce / SourceVpc, kms:CallerAccount / aws:PrincipalAccount / aws:SourceAccount, or aws:PrincipalArn / SourceArn with an account; ...IfExists, ForAllValues:, negated operators and kms:ViaService alone do not restrict. ' +
    'An account named by a principal (arn:aws:iam::<account>:…, a bare account id) or by an account condition that is outside the organization is high. Only what the change adds is reported: the policy is compared with the key\'s previous policy in the store, so re-putting a policy that already named a partner is quiet. ' +
    'GCP (SetIamPolicy on a key or key ring): added members (`added_members`, else every member when the entry has no policy delta) with their roles from `policy_bindings`: allUsers / allAuthenticatedUsers critical (medium for read-only roles; roles/cloudkms.publicKeyViewer, the documented way to publish a public key, is quiet), a service account or project of another project, or a user, group or domain outside `detect.organization.domains` (without any configured: outside the granting user\'s own domain), with a role that uses or controls keys (anything but viewer, publicKeyViewer, verifier, basic viewer/browser, securityReviewer; custom roles count), is high. ' +
    'Azure: a VaultPatch / VaultPut adding an access policy with key permissions that decrypt, unwrap, sign, release, import or manage keys is medium (the assignee object id cannot be judged), high when the policy names another Entra tenant; Managed HSM RoleAssignment*/RoleDefinition* writes are low, since their content is not logged (ARM role assignments on vaults are in the Activity Log, which keywatch does not read). ' +
    'Vault: a write of an ACL policy that granted transit key use in the last month is low: the audit log HMACs the policy body, so the change is reported without its content. ' +
    'Changes that narrow access, or widen it within the organization, are not reported: every policy edit would be noise.',
  runbook:
    'Read the new policy in the evidence (AWS: `policy`; GCP: members and roles; Azure: object ids and permissions) and ask the principal who made the change for the ticket. ' +
    'Public access: revert at once (AWS: aws kms put-key-policy with the previous policy, which keywatch sql "SELECT event_time, attributes[\'policy\'] FROM key_events WHERE key_id = \'<key>\' AND attributes[\'policy\'] != \'\' ORDER BY event_time" shows; GCP: gcloud kms keys remove-iam-policy-binding <key> --member allUsers --role <role>), then look for use by anyone outside since the change (the cross-account-use detector, and keywatch sql over the key\'s events since first_time). ' +
    'Outside account, project, domain or tenant: confirm the partner relationship and add it to detect.organization (accounts or domains) if legitimate, otherwise remove the statement, binding or access policy. ' +
    'Managed HSM / Vault changes with invisible content: read the current role assignments (az keyvault role assignment list --hsm-name <hsm>) or the policy (vault policy read <name>) and compare with your infrastructure code.',
  references: [
    'https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html',
    'https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html',
    'https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html',
    'https://cloud.google.com/kms/docs/iam',
    'https://cloud.google.com/kms/docs/reference/permissions-and-roles',
    'https://learn.microsoft.com/azure/key-vault/general/assign-access-policy',
    'https://developer.hashicorp.com/vault/docs/audit',
    'Panther: AWS.CloudTrail.ResourceMadePublic (AWS Resource Made Public; KMS among the resources)',
    'Sigma: gcp_iam_policy_changed (Google Cloud IAM Policy Changed; every SetIamPolicy, which this detector narrows to widening changes of keys)',
  ],
  falsePositives: [
    'A partner account, project or identity domain that is not yet in detect.organization',
    'A public statement guarded by a condition keywatch does not recognise (aws:SourceIp ranges, aws:userid, custom tags)',
    'GCP grants by a service account (Terraform) to users of the organization when detect.organization.domains is not configured are not judged; grants to Google-managed service agents and workload-identity pools are not judged either',
    'Azure: onboarding a new application or managed identity to a vault with decrypt/unwrap rights (expected; the alert is the record)',
    'Vault: routine edits of policies that grant transit use (deploys of policy-as-code)',
  ],
  dedupeMinutes: 60,
  async run(ctx) {
    // The month-long lookup of monitored accounts runs once, and only when a policy change needs it.
    let inside: Promise<ReadonlySet<string>> | undefined;
    const insideOf = () => (inside ??= insideAccounts(ctx));
    const found = await Promise.all([awsFindings(ctx, insideOf), gcpFindings(ctx, insideOf), azureFindings(ctx), vaultFindings(ctx)]);
    return found.flat();
  },
};
