import { event, type DetectorCases } from './cases.ts';

// Accounts as in the AWS fixtures: 111122223333 owns the keys, 444455556666 is a partner,
// 210987654321 an account nobody configured and whose log keywatch does not read.
const KEY = 'arn:aws:kms:eu-central-1:111122223333:key/5f0c8a1e-3b7d-4e2a-9c61-0d4f7e2b8a13';
const ADMIN = 'arn:aws:iam::111122223333:role/platform-admin';
const DAY = { from: '2026-03-02T00:00:00Z', to: '2026-03-03T00:00:00Z' };
const ROOT_STATEMENT = { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' };
const USE_ACTIONS = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:DescribeKey'];

const keyPolicy = (t: string, statements: object | object[], extra: Partial<Parameters<typeof event>[0]> = {}) =>
  event({
    event_time: t,
    region: 'eu-central-1',
    key_id: KEY,
    operation: 'update_policy',
    vendor_operation: 'PutKeyPolicy',
    principal: ADMIN,
    source_ip: '203.0.113.12',
    attributes: {
      policy: JSON.stringify({ Version: '2012-10-17', Statement: statements }, null, 2),
      policy_name: 'default',
      caller_account: '111122223333',
      recipient_account: '111122223333',
    },
    ...extra,
  });

const GCP_KEY = 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/cryptoKeys/orders-cmek';
const gcpSetIam = (t: string, bindings: { role: string; members: string[] }[], delta: { added?: string; removed?: string }) =>
  event({
    event_time: t,
    source: 'gcp-kms',
    account: 'acme-kms-prod',
    region: 'europe-west3',
    key_id: GCP_KEY,
    operation: 'update_policy',
    vendor_operation: 'SetIamPolicy',
    principal: 'bob@example.com',
    principal_type: 'user',
    source_ip: '203.0.113.99',
    attributes: {
      log_type: 'activity',
      policy_bindings: JSON.stringify(bindings),
      members: [...new Set(bindings.flatMap((b) => b.members))].sort().join(','),
      roles: bindings.map((b) => b.role).sort().join(','),
      ...(delta.added ? { added_members: delta.added } : {}),
      ...(delta.removed ? { removed_members: delta.removed } : {}),
    },
  });

const VAULT_URI = 'https://acme-byok-kv.vault.azure.net/';
const azurePatch = (t: string, added: object) =>
  event({
    event_time: t,
    source: 'azure-key-vault',
    account: '0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0',
    region: '',
    key_id: '',
    operation: 'update_policy',
    vendor_operation: 'VaultPatch',
    principal: 'kv-admin@example.com',
    principal_type: 'user',
    source_ip: '192.0.2.10',
    attributes: {
      vault: 'acme-byok-kv',
      vault_type: 'vault',
      object_id: VAULT_URI,
      resource_id: '/subscriptions/0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0/resourcegroups/rg-keys/providers/microsoft.keyvault/vaults/acme-byok-kv',
      tenant_id: '5f4e3d2c-1b0a-4987-8654-3210fedcba98',
      added_access_policy: JSON.stringify(added),
    },
  });

// An AzureDiagnostics row (legacy Log Analytics mode, shaped like
// ingest/azure-key-vault/fixtures/azure-diagnostics-row.json) of a VaultPatch: the added access
// policy arrives flattened into addedAccessPolicy_* columns.
const AZURE_DIAGNOSTICS_VAULT_PATCH = JSON.stringify({
  TenantId: 'c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f',
  TimeGenerated: '2026-03-02T15:12:09.5521337Z',
  ResourceId: '/SUBSCRIPTIONS/0B1C2D3E-4F50-4172-8394-A5B6C7D8E9F0/RESOURCEGROUPS/RG-KEYS/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/ACME-BYOK-KV',
  Category: 'AuditEvent',
  ResourceGroup: 'RG-KEYS',
  SubscriptionId: '0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0',
  ResourceProvider: 'MICROSOFT.KEYVAULT',
  Resource: 'ACME-BYOK-KV',
  ResourceType: 'VAULTS',
  OperationName: 'VaultPatch',
  ResultType: 'Success',
  CorrelationId: 'c9d0e1f2-a3b4-4c5d-8e6f-7a8b9c0d1e2f',
  ResultDescription: '',
  requestUri_s: 'https://control-prod-weu.vaultcore.azure.net/subscriptions/0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0/resourcegroups/rg-keys/providers/Microsoft.KeyVault/vaults/acme-byok-kv?api-version=2023-07-01',
  DurationMs: 198,
  CallerIPAddress: '192.0.2.10',
  OperationVersion: '2023-07-01',
  ResultSignature: 'OK',
  id_s: VAULT_URI,
  clientInfo_s: 'azure-resource-manager/2.0',
  httpStatusCode_d: 200,
  identity_claim_appid_g: '8a9b0c1d-2e3f-4a4b-9c5d-6e7f8a9b0c1d',
  identity_claim_http_schemas_microsoft_com_identity_claims_objectidentifier_g: '2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d',
  identity_claim_http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn_s: 'kv-admin@example.com',
  addedAccessPolicy_ObjectId_g: '7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b',
  addedAccessPolicy_Permissions_keys_s: '["Get","UnwrapKey","Decrypt"]',
  Type: 'AzureDiagnostics',
  _ResourceId: '/subscriptions/0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0/resourcegroups/rg-keys/providers/microsoft.keyvault/vaults/acme-byok-kv',
});

export const cases: DetectorCases = {
  fires: [
    {
      name: 'AWS: PutKeyPolicy allowing Decrypt to {"AWS": "*"} with no condition is critical (CloudTrail record)',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/put-key-policy-wildcard.json', tenants: { '111122223333': 'acme' } },
      expect: { alerts: 1, key_id: KEY, principal: ADMIN, severity: 'critical', evidenceIncludes: { change: 'public', public_statements: 'Allow use of the key', public_allows_use: true, previous_policy_known: false } },
    },
    {
      name: 'AWS: a statement for a role of an outside account is high',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [keyPolicy('2026-03-02 11:00:00.000', [ROOT_STATEMENT, { Sid: 'Partner', Effect: 'Allow', Principal: { AWS: ['arn:aws:iam::210987654321:role/etl'] }, Action: USE_ACTIONS, Resource: '*' }])],
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { change: 'outside_account', new_outside_accounts: '210987654321' } },
    },
    {
      name: 'AWS: only the account the change adds is reported, not the partner the previous policy already allowed',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [
        keyPolicy('2026-03-01 09:00:00.000', [ROOT_STATEMENT, { Sid: 'Partner', Effect: 'Allow', Principal: { AWS: '444455556666' }, Action: USE_ACTIONS, Resource: '*' }]),
        keyPolicy('2026-03-02 11:00:00.000', [ROOT_STATEMENT, { Sid: 'Partner', Effect: 'Allow', Principal: { AWS: ['444455556666', 'arn:aws:iam::210987654321:root'] }, Action: USE_ACTIONS, Resource: '*' }]),
      ],
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { new_outside_accounts: '210987654321', previous_policy_known: true } },
    },
    {
      name: 'AWS: "*" guarded only by StringEqualsIfExists on aws:PrincipalOrgID is open to principals outside any organization (single Statement object)',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [keyPolicy('2026-03-02 11:00:00.000', { Sid: 'OrgIfExists', Effect: 'Allow', Principal: '*', Action: 'kms:Decrypt', Resource: '*', Condition: { StringEqualsIfExists: { 'aws:PrincipalOrgID': 'o-a1b2c3d4e5' } } })],
      expect: { alerts: 1, severity: 'critical', evidenceIncludes: { public_statements: 'OrgIfExists' } },
    },
    {
      name: 'AWS: "*" restricted by kms:CallerAccount to an outside account is that account\'s access (high)',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [
        keyPolicy('2026-03-02 11:00:00.000', [
          ROOT_STATEMENT,
          { Sid: 'ViaS3', Effect: 'Allow', Principal: { AWS: '*' }, Action: USE_ACTIONS, Resource: '*', Condition: { StringEquals: { 'kms:CallerAccount': '210987654321', 'kms:ViaService': 's3.eu-central-1.amazonaws.com' } } },
        ]),
      ],
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { change: 'outside_account', new_outside_accounts: '210987654321' } },
    },
    {
      name: 'AWS: "*" allowed only kms:DescribeKey and kms:GetPublicKey (NotPrincipal form) is medium',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [keyPolicy('2026-03-02 11:00:00.000', [ROOT_STATEMENT, { Sid: 'PublicKey', Effect: 'Allow', NotPrincipal: { AWS: 'arn:aws:iam::210987654321:root' }, Action: ['kms:DescribeKey', 'kms:GetPublicKey'], Resource: '*' }])],
      expect: { alerts: 1, severity: 'medium', evidenceIncludes: { public_statements: 'PublicKey', public_allows_use: false } },
    },
    {
      name: 'AWS: a key created with a public policy (CreateKey) is critical',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [keyPolicy('2026-03-02 11:00:00.000', [ROOT_STATEMENT, { Effect: 'Allow', Principal: { AWS: '*' }, Action: 'kms:*', Resource: '*' }], { operation: 'create_key', operation_class: 'lifecycle', vendor_operation: 'CreateKey' })],
      expect: { alerts: 1, severity: 'critical', evidenceIncludes: { vendor_operation: 'CreateKey', public_statements: '#2' } },
    },
    {
      name: 'GCP: allUsers added as CryptoKey Encrypter/Decrypter is critical (Admin Activity entry)',
      now: '2026-03-10T00:00:00Z',
      range: { from: '2026-03-09T00:00:00Z', to: '2026-03-10T00:00:00Z' },
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/set-iam-policy-all-users.json', tenants: { 'acme-kms-prod': 'acme' } },
      expect: { alerts: 1, key_id: GCP_KEY, principal: 'bob@example.com', severity: 'critical', evidenceIncludes: { change: 'public', members: 'allUsers', roles: 'roles/cloudkms.cryptoKeyEncrypterDecrypter', added_only: true } },
    },
    {
      name: 'GCP: a user of another domain made Cloud KMS Admin of a key ring is high (outside the granting user\'s domain)',
      now: '2026-03-11T00:00:00Z',
      range: { from: '2026-03-10T00:00:00Z', to: '2026-03-11T00:00:00Z' },
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/set-iam-policy-external-domain.json', tenants: { 'acme-kms-prod': 'acme' } },
      expect: {
        alerts: 1,
        key_id: 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok',
        severity: 'high',
        evidenceIncludes: { change: 'outside_member', resource_level: 'key_ring', members: 'user:dana@example.net', roles: 'roles/cloudkms.admin', outsiders: 'example.net', inside_domains: 'example.com' },
      },
    },
    {
      name: 'GCP: a service account of an outside project added as Decrypter is high',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [
        gcpSetIam('2026-03-02 11:00:00.000', [{ role: 'roles/cloudkms.cryptoKeyDecrypter', members: ['serviceAccount:orders-api@acme-kms-prod.iam.gserviceaccount.com', 'serviceAccount:reader@sandbox-4711.iam.gserviceaccount.com'] }], {
          added: 'serviceAccount:reader@sandbox-4711.iam.gserviceaccount.com',
        }),
      ],
      expect: { alerts: 1, key_id: GCP_KEY, severity: 'high', evidenceIncludes: { outsiders: 'sandbox-4711', roles: 'roles/cloudkms.cryptoKeyDecrypter' } },
    },
    {
      name: 'Azure: VaultPatch adding an access policy with unwrapKey is medium (AuditEvent record)',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      records: { format: 'azure-key-vault', fixture: 'ingest/azure-key-vault/fixtures/vault-patch-access-policy.json' },
      expect: { alerts: 1, key_id: VAULT_URI, principal: 'kv-admin@example.com', severity: 'medium', evidenceIncludes: { change: 'access_policy_added', sensitive_permissions: 'unwrapkey', object_ids: '6c7d8e9f-0a1b-4c2d-9e3f-4a5b6c7d8e9f' } },
    },
    {
      name: 'Azure: an access policy for another Entra tenant with decrypt is high',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [azurePatch('2026-03-02 11:00:00.000', { ObjectId: '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a', TenantId: '0e9d8c7b-6a5f-4e4d-8c3b-2a1f0e9d8c7b', Permissions: { keys: ['Get', 'Decrypt'], secrets: [], certificates: [] } })],
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { change: 'outside_tenant', outside_tenants: '0e9d8c7b-6a5f-4e4d-8c3b-2a1f0e9d8c7b', sensitive_permissions: 'decrypt' } },
    },
    {
      name: 'Azure: the same change in an AzureDiagnostics row, whose access policy is flattened into columns',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      records: { format: 'azure-key-vault', lines: [AZURE_DIAGNOSTICS_VAULT_PATCH] },
      expect: { alerts: 1, key_id: VAULT_URI, severity: 'medium', evidenceIncludes: { object_ids: '7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b', key_permissions: 'get,unwrapkey,decrypt', sensitive_permissions: 'unwrapkey,decrypt' } },
    },
    {
      name: 'Azure: a Managed HSM role assignment is low, its content not being logged (AuditEvent record)',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      records: { format: 'azure-key-vault', fixture: 'ingest/azure-key-vault/fixtures/managed-hsm-role-assignment.json' },
      expect: { alerts: 1, severity: 'low', evidenceIncludes: { change: 'managed_hsm_rbac', vendor_operation: 'RoleAssignmentCreate', content_visible: false } },
    },
    {
      name: 'Vault: a rewrite of the ACL policy that grants transit use of transit/orders is low (audit request and response entries)',
      now: '2026-03-04T00:00:00Z',
      range: { from: '2026-03-03T00:00:00Z', to: '2026-03-04T00:00:00Z' },
      records: { format: 'vault', fixture: 'ingest/vault/fixtures/policy-write.jsonl' },
      events: [
        event({
          event_time: '2026-03-02 08:40:00.000',
          source: 'vault',
          account: 'root',
          region: '',
          key_id: 'transit/orders',
          vendor_operation: 'update transit/decrypt',
          principal: 'approle-orders-api',
          principal_type: 'application',
          attributes: { policies: 'default,orders-transit', granting_policies: 'orders-transit', mount_type: 'transit' },
        }),
      ],
      expect: { alerts: 1, key_id: 'sys/policies/acl/orders-transit', principal: 'userpass-bob', severity: 'low', evidenceIncludes: { policy_name: 'orders-transit', governs_keys: 'transit/orders', content_visible: false } },
    },
  ],
  quiet: [
    {
      name: 'AWS: the default key policy (the owner account\'s root only)',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [keyPolicy('2026-03-02 11:00:00.000', [ROOT_STATEMENT])],
    },
    {
      name: 'AWS: "*" restricted to the organization with StringEquals on aws:PrincipalOrgID',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [keyPolicy('2026-03-02 11:00:00.000', [ROOT_STATEMENT, { Sid: 'Org', Effect: 'Allow', Principal: { AWS: '*' }, Action: USE_ACTIONS, Resource: '*', Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-a1b2c3d4e5' } } }])],
    },
    {
      name: 'AWS: the AWS-managed-key pattern, "*" with kms:CallerAccount of the owner and kms:ViaService',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [
        keyPolicy('2026-03-02 11:00:00.000', [
          ROOT_STATEMENT,
          { Sid: 'ViaEBS', Effect: 'Allow', Principal: { AWS: '*' }, Action: USE_ACTIONS, Resource: '*', Condition: { StringEquals: { 'kms:CallerAccount': '111122223333', 'kms:ViaService': 'ec2.eu-central-1.amazonaws.com' } } },
        ]),
      ],
    },
    {
      name: 'AWS: a Deny for "*" outside the organization narrows access',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [keyPolicy('2026-03-02 11:00:00.000', [ROOT_STATEMENT, { Sid: 'DenyOutside', Effect: 'Deny', Principal: '*', Action: 'kms:*', Resource: '*', Condition: { StringNotEquals: { 'aws:PrincipalOrgID': 'o-a1b2c3d4e5' } } }])],
    },
    {
      name: 'AWS: re-putting a policy whose partner statement was already there',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [
        keyPolicy('2026-03-01 09:00:00.000', [ROOT_STATEMENT, { Sid: 'Partner', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::210987654321:role/etl' }, Action: USE_ACTIONS, Resource: '*' }]),
        keyPolicy('2026-03-02 11:00:00.000', [ROOT_STATEMENT, { Sid: 'Partner', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::210987654321:role/etl' }, Action: [...USE_ACTIONS, 'kms:ReEncrypt*'], Resource: '*' }]),
      ],
    },
    {
      name: 'AWS: a refused PutKeyPolicy with a public statement changed nothing',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [keyPolicy('2026-03-02 11:00:00.000', [ROOT_STATEMENT, { Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*' }], { outcome: 'failure', error_code: 'AccessDeniedException' })],
    },
    {
      name: 'AWS: a statement for the partner account, which is inside once keywatch reads its own trail',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [
        keyPolicy('2026-03-02 11:00:00.000', [ROOT_STATEMENT, { Sid: 'Partner', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::444455556666:role/partner-etl' }, Action: USE_ACTIONS, Resource: '*' }]),
        event({ event_time: '2026-03-01 18:00:00.000', account: '444455556666', key_id: 'arn:aws:kms:eu-central-1:444455556666:key/7a7a7a7a-0000-4000-8000-000000000444', principal: 'arn:aws:iam::444455556666:role/partner-etl', attributes: { recipient_account: '444455556666' } }),
      ],
    },
    {
      name: 'GCP: publishing the public key to allUsers (roles/cloudkms.publicKeyViewer)',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [gcpSetIam('2026-03-02 11:00:00.000', [{ role: 'roles/cloudkms.publicKeyViewer', members: ['allUsers'] }], { added: 'allUsers' })],
    },
    {
      name: 'GCP: an outside user given only roles/cloudkms.viewer, and a removal',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [
        gcpSetIam('2026-03-02 11:00:00.000', [{ role: 'roles/cloudkms.viewer', members: ['user:auditor@example.net'] }], { added: 'user:auditor@example.net' }),
        gcpSetIam('2026-03-02 12:00:00.000', [{ role: 'roles/cloudkms.cryptoKeyEncrypterDecrypter', members: ['serviceAccount:orders-api@acme-kms-prod.iam.gserviceaccount.com'] }], { removed: 'user:carol@example.net' }),
      ],
    },
    {
      name: 'GCP: a service account of the key\'s own project and a colleague of the granting user added as Encrypter/Decrypter (allUsers, already in the binding, is not part of this change)',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [
        gcpSetIam('2026-03-02 11:00:00.000', [{ role: 'roles/cloudkms.cryptoKeyEncrypterDecrypter', members: ['serviceAccount:billing@acme-kms-prod.iam.gserviceaccount.com', 'user:carol@example.com', 'allUsers'] }], {
          added: 'serviceAccount:billing@acme-kms-prod.iam.gserviceaccount.com,user:carol@example.com',
        }),
      ],
    },
    {
      name: 'Azure: an access policy with only get, list and wrapKey on keys',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [azurePatch('2026-03-02 11:00:00.000', { ObjectId: '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a', TenantId: '5f4e3d2c-1b0a-4987-8654-3210fedcba98', Permissions: { keys: ['Get', 'List', 'WrapKey'], secrets: ['get'], certificates: [] } })],
    },
    {
      name: 'Azure: a VaultPatch that only removes an access policy',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [
        event({
          event_time: '2026-03-02 11:00:00.000',
          source: 'azure-key-vault',
          account: '0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0',
          key_id: '',
          operation: 'update_policy',
          vendor_operation: 'VaultPatch',
          principal: 'kv-admin@example.com',
          principal_type: 'user',
          attributes: { vault: 'acme-byok-kv', object_id: VAULT_URI, removed_access_policy: JSON.stringify({ ObjectId: '6c7d8e9f-0a1b-4c2d-9e3f-4a5b6c7d8e9f', TenantId: '5f4e3d2c-1b0a-4987-8654-3210fedcba98', Permissions: { keys: ['unwrapKey'] } }) },
        }),
      ],
    },
    {
      name: 'Vault: a policy write of a policy that granted no transit key use (audit entries alone)',
      now: '2026-03-04T00:00:00Z',
      range: { from: '2026-03-03T00:00:00Z', to: '2026-03-04T00:00:00Z' },
      records: { format: 'vault', fixture: 'ingest/vault/fixtures/policy-write.jsonl' },
    },
  ],
};
