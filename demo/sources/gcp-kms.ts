import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { Rng } from '../rng.ts';
import type { DemoIncident, DemoSource, DemoSourceOptions } from './demo-source.ts';
import { inOfficeHours, plusFirstUse, plusOffHours } from './demo-source.ts';

/**
 * Synthetic Cloud KMS audit-log traffic in the Cloud Audit Logs `LogEntry` layout (Cloud Logging
 * reference, `google.cloud.audit.AuditLog`), for `keywatch demo` and bench/ingest. Files are written
 * as a Cloud Storage log sink writes them (NDJSON, one file per project, log and day), plus the
 * last day of one project's KMS Data Access entries again as Pub/Sub push bodies, so that the demo also
 * exercises base64 envelopes and deduplication across transports.
 */

const MS_HOUR = 3_600_000;
const MS_DAY = 86_400_000;
const AUDIT_TYPE = 'type.googleapis.com/google.cloud.audit.AuditLog';
const FLUSH_CHARS = 1 << 20;

type LogType = 'activity' | 'data_access';
type Purpose = 'ENCRYPT_DECRYPT' | 'ASYMMETRIC_SIGN' | 'MAC';

interface GcpKey {
  name: string;
  purpose: Purpose;
  algorithm: string;
  protectionLevel: 'HSM' | 'EXTERNAL' | 'SOFTWARE';
  /** The primary (or signing) version in use at the start of the demo. */
  version: number;
}

interface GcpCaller {
  /** principalEmail, or a principalSubject (workload identity federation) when it starts with `principal://`. */
  identity: string;
  /** Key names (within the project) it uses. */
  uses: string[];
  /** IPs it calls from; `private` for Google-internal service agents. */
  ips: string[];
  userAgent: string;
  perHour: number;
}

interface GcpProject {
  project: string;
  tenant: string;
  location: string;
  ring: string;
  keys: GcpKey[];
  callers: GcpCaller[];
  /** Humans and automation that manage the keys (Admin Activity and ADMIN_READ entries). */
  admins: { identity: string; ip: string; userAgent: string }[];
  /** Data Access audit logs enabled for cloudkms.googleapis.com. */
  dataAccess: boolean;
  /** Only part of the demo when incidents are on (the coverage-gap project). */
  incidentOnly?: boolean;
}

const GCLOUD_UA = 'google-cloud-sdk gcloud/468.0.0 command/gcloud.kms environment/None client-os/LINUX interactive/True python/3.11.8,gzip(gfe)';
const CONSOLE_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36,gzip(gfe)';
const TERRAFORM_UA = 'Terraform/1.7.5 (+https://www.terraform.io) Terraform-Plugin-SDK/2.33.0 terraform-provider-google/5.21.0,gzip(gfe)';

const sym = (name: string, protectionLevel: GcpKey['protectionLevel'], version = 1): GcpKey => ({ name, purpose: 'ENCRYPT_DECRYPT', algorithm: 'GOOGLE_SYMMETRIC_ENCRYPTION', protectionLevel, version });

/** The demo's GCP estate: project ids are the `account` of its events. */
export const GCP_DEMO_PROJECTS: GcpProject[] = [
  {
    project: 'acme-kms-prod',
    tenant: 'acme',
    location: 'europe-west3',
    ring: 'byok',
    keys: [
      sym('orders-cmek', 'HSM', 3),
      { name: 'payments-sign', purpose: 'ASYMMETRIC_SIGN', algorithm: 'EC_SIGN_P256_SHA256', protectionLevel: 'HSM', version: 2 },
      { name: 'hr-mac', purpose: 'MAC', algorithm: 'HMAC_SHA256', protectionLevel: 'HSM', version: 1 },
    ],
    callers: [
      { identity: 'orders-api@acme-kms-prod.iam.gserviceaccount.com', uses: ['orders-cmek'], ips: ['10.20.3.14', '10.20.3.15'], userAgent: 'grpc-java-netty/1.62.2,gzip(gfe)', perHour: 14 },
      { identity: 'payments-signer@acme-kms-prod.iam.gserviceaccount.com', uses: ['payments-sign'], ips: ['10.20.5.8'], userAgent: 'google-api-go-client/0.5 kms/1.15.7 grpc-go/1.62.1,gzip(gfe)', perHour: 5 },
      { identity: 'hr-portal@acme-kms-prod.iam.gserviceaccount.com', uses: ['hr-mac'], ips: ['10.20.9.30'], userAgent: 'gl-python/3.12.2 grpc/1.62.1 gax/2.17.1 gapic/2.21.3,gzip(gfe)', perHour: 3 },
      // Cloud Storage's service agent encrypting and decrypting objects with the CMEK key.
      { identity: 'service-210987654321@gs-project-accounts.iam.gserviceaccount.com', uses: ['orders-cmek'], ips: ['private'], userAgent: '', perHour: 6 },
    ],
    admins: [
      { identity: 'alice@acme.example.com', ip: '192.0.2.10', userAgent: GCLOUD_UA },
      { identity: 'terraform@acme-kms-ops.iam.gserviceaccount.com', ip: '192.0.2.11', userAgent: TERRAFORM_UA },
    ],
    dataAccess: true,
  },
  {
    // Data Access logs were never enabled here: only Admin Activity reaches the sink.
    project: 'acme-analytics',
    tenant: 'acme',
    location: 'us-central1',
    ring: 'warehouse',
    keys: [sym('bq-cmek', 'SOFTWARE', 1)],
    callers: [
      { identity: 'bq-345678901234@bigquery-encryption.iam.gserviceaccount.com', uses: ['bq-cmek'], ips: ['private'], userAgent: '', perHour: 8 },
    ],
    admins: [{ identity: 'terraform@acme-kms-ops.iam.gserviceaccount.com', ip: '192.0.2.11', userAgent: TERRAFORM_UA }],
    dataAccess: false,
    incidentOnly: true,
  },
  {
    project: 'globex-keys-prod',
    tenant: 'globex',
    location: 'us-east1',
    ring: 'payments',
    keys: [sym('billing-cmek', 'HSM', 2), sym('ledger-ekm', 'EXTERNAL', 1)],
    callers: [
      { identity: 'billing-batch@globex-keys-prod.iam.gserviceaccount.com', uses: ['billing-cmek'], ips: ['10.60.1.20', '10.60.1.21'], userAgent: 'gl-python/3.12.2 grpc/1.62.1 gax/2.17.1 gapic/2.21.3,gzip(gfe)', perHour: 10 },
      { identity: 'ledger-svc@globex-keys-prod.iam.gserviceaccount.com', uses: ['ledger-ekm'], ips: ['10.60.2.7'], userAgent: 'grpc-node-js/1.10.0,gzip(gfe)', perHour: 6 },
      { identity: 'bq-456789012345@bigquery-encryption.iam.gserviceaccount.com', uses: ['billing-cmek'], ips: ['private'], userAgent: '', perHour: 4 },
    ],
    admins: [{ identity: 'secops@globex.example.com', ip: '192.0.2.44', userAgent: CONSOLE_UA }],
    dataAccess: true,
  },
  {
    project: 'initech-byok',
    tenant: 'initech',
    location: 'australia-southeast1',
    ring: 'tps',
    keys: [sym('reports-cmek', 'HSM', 4), sym('hr-records', 'HSM', 1)],
    callers: [
      { identity: 'tps-reports@initech-byok.iam.gserviceaccount.com', uses: ['reports-cmek', 'hr-records'], ips: ['10.90.0.8'], userAgent: 'grpc-dotnet/2.61.0 (.NET 8.0.2; CLR 8.0.2; net8.0; linux; x64),gzip(gfe)', perHour: 6 },
      {
        identity: 'principal://iam.googleapis.com/projects/567890123456/locations/global/workloadIdentityPools/ci-pool/subject/repo:initech/tps:ref:refs/heads/main',
        uses: ['reports-cmek'],
        ips: ['198.51.100.140'],
        userAgent: 'google-api-nodejs-client/9.7.0,gzip(gfe)',
        perHour: 2,
      },
    ],
    admins: [{ identity: 'bill.lumbergh@initech.example.com', ip: '192.0.2.77', userAgent: GCLOUD_UA }],
    dataAccess: true,
  },
];

const INCIDENTS = [
  { id: 'gcp-public-key-policy', daysBack: 1, hour: 21, minute: 17, what: 'SetIamPolicy on the globex billing-cmek key grants roles/cloudkms.cryptoKeyEncrypterDecrypter to allUsers' },
  { id: 'gcp-version-destroyed', daysBack: 2, hour: 2, minute: 13, what: 'the primary version of the initech reports-cmek key is scheduled for destruction (DestroyCryptoKeyVersion) at night' },
  { id: 'gcp-denied-decrypt-burst', daysBack: 1, hour: 3, minute: 40, what: '80 PERMISSION_DENIED Decrypt calls in 8 minutes on the acme orders-cmek key from an unknown service account (scraper@unknown-proj-7781), from 203.0.113.66' },
  { id: 'gcp-data-access-off', daysBack: -1, hour: 0, minute: 0, what: 'project acme-analytics shows key administration but no key use at all: its Data Access audit logs are off (coverage gap)' },
] as const;

type IncidentId = (typeof INCIDENTS)[number]['id'];

const DENIED_BURST = 80;

/** When an incident happens: `daysBack` days before the last day, at a fixed UTC time, clamped to the window. */
function incidentTime(start: Date, days: number, i: { daysBack: number; hour: number; minute: number }): number {
  const startMs = Math.floor(start.getTime() / MS_HOUR) * MS_HOUR;
  const endMs = startMs + Math.round(days * 24) * MS_HOUR;
  // The coverage gap "starts" with the project's first admin entry, on the first morning.
  if (i.daysBack < 0) return startMs + 9 * MS_HOUR + 5 * 60_000;
  const lastDay = Math.floor((endMs - 1) / MS_DAY) * MS_DAY;
  let at = lastDay - i.daysBack * MS_DAY + i.hour * MS_HOUR + i.minute * 60_000;
  if (at >= endMs) at -= MS_DAY;
  return Math.min(endMs - MS_HOUR, Math.max(startMs, at));
}

/** Diurnal shape: quiet nights, a working-day peak around 13:00 UTC. */
function diurnal(hourOfDay: number): number {
  const x = (hourOfDay - 6) / 14;
  return x <= 0 || x >= 1 ? 0.3 : 0.3 + 0.7 * Math.sin(Math.PI * x);
}

const isoTime = (ms: number, micros: number) => `${new Date(ms).toISOString().slice(0, 19)}.${String(ms % 1000).padStart(3, '0')}${String(micros).padStart(3, '0')}Z`;

// Permissions checked per method (the cloudkms permission model: use* on versions, * on keys).
const CRYPTO: Record<Purpose, readonly (readonly [string, string, string])[]> = {
  ENCRYPT_DECRYPT: [
    ['Decrypt', 'cloudkms.cryptoKeyVersions.useToDecrypt', 'DATA_READ'],
    ['Encrypt', 'cloudkms.cryptoKeyVersions.useToEncrypt', 'DATA_WRITE'],
  ],
  ASYMMETRIC_SIGN: [['AsymmetricSign', 'cloudkms.cryptoKeyVersions.useToSign', 'DATA_WRITE']],
  MAC: [
    ['MacSign', 'cloudkms.cryptoKeyVersions.useToSign', 'DATA_WRITE'],
    ['MacVerify', 'cloudkms.cryptoKeyVersions.useToVerify', 'DATA_READ'],
  ],
};

interface Call {
  project: GcpProject;
  log: LogType;
  time: number;
  method: string;
  resourceName: string;
  identity: string;
  ip: string;
  userAgent: string;
  permission: string;
  permissionType: string;
  status?: { code: number; message: string };
  request?: Record<string, unknown>;
  response?: Record<string, unknown>;
  serviceData?: Record<string, unknown>;
}

/** Builds LogEntries; holds the RNG so that the same seed always gives the same bytes. */
class EntryFactory {
  constructor(private readonly rng: Rng) {}

  keyName(p: GcpProject, key: string): string {
    return `projects/${p.project}/locations/${p.location}/keyRings/${p.ring}/cryptoKeys/${key}`;
  }

  ringName(p: GcpProject): string {
    return `projects/${p.project}/locations/${p.location}/keyRings/${p.ring}`;
  }

  entry(c: Call): Record<string, unknown> {
    const parts = c.resourceName.split('/');
    const labels: Record<string, string> = { project_id: c.project.project, location: c.project.location, key_ring_id: c.project.ring };
    if (parts[6] === 'cryptoKeys' && parts[7] !== undefined) labels.crypto_key_id = parts[7];
    if (parts[8] === 'cryptoKeyVersions' && parts[9] !== undefined) labels.crypto_key_version_id = parts[9];
    const type = parts.length >= 10 ? 'cloudkms_cryptokeyversion' : parts.length >= 8 ? 'cloudkms_cryptokey' : 'cloudkms_keyring';
    const ts = isoTime(c.time, this.rng.int(1000));
    const authz: Record<string, unknown> = { resource: c.resourceName, permission: c.permission, resourceAttributes: {}, permissionType: c.permissionType };
    // proto3 JSON leaves out a false `granted`.
    if (!c.status || c.status.code !== 7) authz.granted = true;
    const principal = c.identity.startsWith('principal://') ? { principalSubject: c.identity } : { principalEmail: c.identity };
    const pp: Record<string, unknown> = {
      '@type': AUDIT_TYPE,
      status: c.status ?? {},
      authenticationInfo: principal,
      requestMetadata: { callerIp: c.ip, ...(c.userAgent ? { callerSuppliedUserAgent: c.userAgent } : {}), requestAttributes: { time: ts, auth: {} }, destinationAttributes: {} },
      serviceName: 'cloudkms.googleapis.com',
      methodName: c.method,
      authorizationInfo: [authz],
      resourceName: c.resourceName,
      ...(c.request ? { request: c.request } : {}),
      ...(c.response ? { response: c.response } : {}),
      ...(c.serviceData ? { serviceData: c.serviceData } : {}),
      resourceLocation: { currentLocations: [c.project.location] },
    };
    return {
      protoPayload: pp,
      insertId: this.rng.hex(12),
      resource: { type, labels },
      timestamp: ts,
      severity: c.status ? 'ERROR' : c.log === 'activity' ? 'NOTICE' : 'INFO',
      logName: `projects/${c.project.project}/logs/cloudaudit.googleapis.com%2F${c.log}`,
      receiveTimestamp: isoTime(c.time + 400 + this.rng.int(800), this.rng.int(1000)),
    };
  }

  /** One data-plane call by `caller` at `time`. */
  use(p: GcpProject, caller: GcpCaller, key: GcpKey, time: number): Record<string, unknown> {
    const [method, permission, permissionType] = this.rng.pick(CRYPTO[key.purpose]);
    const keyName = this.keyName(p, key.name);
    // Signing names a version; encryption names the key (its primary version is used).
    const resourceName = key.purpose === 'ENCRYPT_DECRYPT' ? keyName : `${keyName}/cryptoKeyVersions/${key.version}`;
    let status: Call['status'];
    const r = this.rng.next();
    if (method === 'Decrypt' && r < 0.004) status = { code: 3, message: 'Decryption failed: the ciphertext is invalid.' };
    else if (key.protectionLevel === 'EXTERNAL' && r < 0.01) status = { code: 9, message: 'The external key manager returned an error: the EKM is unavailable.' };
    return this.entry({
      project: p,
      log: 'data_access',
      time,
      method,
      resourceName,
      identity: caller.identity,
      ip: this.rng.pick(caller.ips),
      userAgent: caller.userAgent,
      permission,
      permissionType,
      ...(status ? { status } : {}),
      request: { '@type': `type.googleapis.com/google.cloud.kms.v1.${method}Request`, name: resourceName },
    });
  }

  /** An admin reading key metadata (Data Access, ADMIN_READ). */
  adminRead(p: GcpProject, time: number): Record<string, unknown> {
    const admin = this.rng.pick(p.admins);
    const list = this.rng.next() < 0.4;
    const key = this.rng.pick(p.keys);
    const resourceName = list ? this.ringName(p) : this.keyName(p, key.name);
    return this.entry({
      project: p,
      log: 'data_access',
      time,
      method: list ? 'ListCryptoKeys' : 'GetCryptoKey',
      resourceName,
      identity: admin.identity,
      ip: admin.ip,
      userAgent: admin.userAgent,
      permission: list ? 'cloudkms.cryptoKeys.list' : 'cloudkms.cryptoKeys.get',
      permissionType: 'ADMIN_READ',
      request: list ? { parent: resourceName } : { name: resourceName },
    });
  }

  /** Routine key management (Admin Activity): labels, a new version made primary, rotation period, a benign grant. */
  adminWrite(p: GcpProject, time: number): Record<string, unknown>[] {
    const admin = this.rng.pick(p.admins);
    const key = this.rng.pick(p.keys);
    const keyName = this.keyName(p, key.name);
    const base = { project: p, log: 'activity' as const, identity: admin.identity, ip: admin.ip, userAgent: admin.userAgent, permissionType: 'ADMIN_WRITE' };
    const kind = this.rng.weighted([
      ['labels', 4],
      ['rotate', key.purpose === 'ENCRYPT_DECRYPT' ? 2 : 0],
      ['period', 1],
      ['grant', 1],
    ] as const);
    if (kind === 'rotate') {
      key.version++;
      const versionName = `${keyName}/cryptoKeyVersions/${key.version}`;
      return [
        this.entry({
          ...base, time, method: 'CreateCryptoKeyVersion', resourceName: keyName, permission: 'cloudkms.cryptoKeyVersions.create',
          request: { parent: keyName, cryptoKeyVersion: {} },
          response: { name: versionName, state: 'ENABLED', protectionLevel: key.protectionLevel, algorithm: key.algorithm },
        }),
        this.entry({
          ...base, time: time + 20_000 + this.rng.int(40_000), method: 'UpdateCryptoKeyPrimaryVersion', resourceName: keyName, permission: 'cloudkms.cryptoKeys.update',
          request: { name: keyName, cryptoKeyVersionId: String(key.version) },
          response: { name: keyName, purpose: key.purpose, primary: { name: versionName, state: 'ENABLED' } },
        }),
      ];
    }
    if (kind === 'period') {
      const days = this.rng.pick([30, 90, 180]);
      const next = new Date(Math.floor(time / MS_DAY) * MS_DAY + days * MS_DAY).toISOString().replace('.000Z', 'Z');
      return [
        this.entry({
          ...base, time, method: 'UpdateCryptoKey', resourceName: keyName, permission: 'cloudkms.cryptoKeys.update',
          request: { cryptoKey: { name: keyName, rotationPeriod: `${days * 86400}s`, nextRotationTime: next }, updateMask: 'rotationPeriod,nextRotationTime' },
          response: { name: keyName, purpose: key.purpose, rotationPeriod: `${days * 86400}s`, nextRotationTime: next },
        }),
      ];
    }
    if (kind === 'grant') {
      const caller = this.rng.pick(p.callers);
      // A federated identity is bound by its principal:// identifier, a service account by serviceAccount:email.
      const member = caller.identity.startsWith('principal://') ? caller.identity : `serviceAccount:${caller.identity}`;
      const bindings = [{ role: 'roles/cloudkms.cryptoKeyEncrypterDecrypter', members: [member] }];
      return [
        this.entry({
          ...base, time, method: 'SetIamPolicy', resourceName: keyName, permission: 'cloudkms.cryptoKeys.setIamPolicy',
          request: { resource: keyName, policy: { bindings, etag: `BwY${this.rng.hex(8)}=` } },
          response: { bindings, etag: `BwY${this.rng.hex(8)}=` },
          serviceData: { '@type': 'type.googleapis.com/google.iam.v1.logging.AuditData', policyDelta: { bindingDeltas: [{ action: 'ADD', role: bindings[0]?.role, member }] } },
        }),
      ];
    }
    return [
      this.entry({
        ...base, time, method: 'UpdateCryptoKey', resourceName: keyName, permission: 'cloudkms.cryptoKeys.update',
        request: { cryptoKey: { name: keyName, labels: { team: p.ring, cost_center: String(1000 + this.rng.int(9000)) } }, updateMask: 'labels' },
        response: { name: keyName, purpose: key.purpose },
      }),
    ];
  }

  incident(projects: GcpProject[], id: IncidentId, t0: number): Record<string, unknown>[] {
    const project = (name: string) => projects.find((p) => p.project === name) as GcpProject;
    if (id === 'gcp-public-key-policy') {
      const p = project('globex-keys-prod');
      const keyName = this.keyName(p, 'billing-cmek');
      const bindings = [{ role: 'roles/cloudkms.cryptoKeyEncrypterDecrypter', members: ['serviceAccount:billing-batch@globex-keys-prod.iam.gserviceaccount.com', 'allUsers'] }];
      return [
        this.entry({
          project: p, log: 'activity', time: t0, method: 'SetIamPolicy', resourceName: keyName, identity: 'secops@globex.example.com', ip: '198.51.100.77', userAgent: CONSOLE_UA,
          permission: 'cloudkms.cryptoKeys.setIamPolicy', permissionType: 'ADMIN_WRITE',
          request: { resource: keyName, policy: { bindings, etag: 'BwYT5pUb3kQ=' } },
          response: { bindings, etag: 'BwYT5pVq0aM=' },
          serviceData: { '@type': 'type.googleapis.com/google.iam.v1.logging.AuditData', policyDelta: { bindingDeltas: [{ action: 'ADD', role: 'roles/cloudkms.cryptoKeyEncrypterDecrypter', member: 'allUsers' }] } },
        }),
      ];
    }
    if (id === 'gcp-version-destroyed') {
      const p = project('initech-byok');
      const key = p.keys.find((k) => k.name === 'reports-cmek') as GcpKey;
      const versionName = `${this.keyName(p, key.name)}/cryptoKeyVersions/${key.version}`;
      return [
        this.entry({
          project: p, log: 'activity', time: t0, method: 'DestroyCryptoKeyVersion', resourceName: versionName, identity: 'bill.lumbergh@initech.example.com', ip: '192.0.2.77', userAgent: GCLOUD_UA,
          permission: 'cloudkms.cryptoKeyVersions.destroy', permissionType: 'ADMIN_WRITE',
          request: { name: versionName },
          response: { name: versionName, state: 'DESTROY_SCHEDULED', destroyTime: new Date(t0 + 30 * MS_DAY).toISOString(), algorithm: key.algorithm, protectionLevel: key.protectionLevel },
        }),
      ];
    }
    if (id === 'gcp-denied-decrypt-burst') {
      const p = project('acme-kms-prod');
      const keyName = this.keyName(p, 'orders-cmek');
      const message = `Permission 'cloudkms.cryptoKeyVersions.useToDecrypt' denied on resource '${keyName}' (or it may not exist).`;
      return Array.from({ length: DENIED_BURST }, (_, i) =>
        this.entry({
          project: p, log: 'data_access', time: t0 + i * 6_000 + this.rng.int(3_000), method: 'Decrypt', resourceName: keyName,
          identity: 'scraper@unknown-proj-7781.iam.gserviceaccount.com', ip: '203.0.113.66', userAgent: 'python-requests/2.31.0,gzip(gfe)',
          permission: 'cloudkms.cryptoKeyVersions.useToDecrypt', permissionType: 'DATA_READ', status: { code: 7, message },
          request: { name: keyName },
        }),
      );
    }
    // gcp-data-access-off: the analytics project's key is set up and managed; its use is never logged.
    const p = project('acme-analytics');
    const key = p.keys[0] as GcpKey;
    const keyName = this.keyName(p, key.name);
    const admin = p.admins[0] as GcpProject['admins'][number];
    const base = { project: p, log: 'activity' as const, identity: admin.identity, ip: admin.ip, userAgent: admin.userAgent, permissionType: 'ADMIN_WRITE' };
    const member = `serviceAccount:${(p.callers[0] as GcpCaller).identity}`;
    const bindings = [{ role: 'roles/cloudkms.cryptoKeyEncrypterDecrypter', members: [member] }];
    return [
      this.entry({
        ...base, time: t0, method: 'UpdateCryptoKey', resourceName: keyName, permission: 'cloudkms.cryptoKeys.update',
        request: { cryptoKey: { name: keyName, rotationPeriod: '7776000s', nextRotationTime: new Date(t0 + 90 * MS_DAY).toISOString() }, updateMask: 'rotationPeriod,nextRotationTime' },
        response: { name: keyName, purpose: key.purpose, rotationPeriod: '7776000s' },
      }),
      this.entry({
        ...base, time: t0 + 45_000, method: 'SetIamPolicy', resourceName: keyName, permission: 'cloudkms.cryptoKeys.setIamPolicy',
        request: { resource: keyName, policy: { bindings, etag: 'BwYT6c0ZbQw=' } },
        response: { bindings, etag: 'BwYT6c1a2Rk=' },
        serviceData: { '@type': 'type.googleapis.com/google.iam.v1.logging.AuditData', policyDelta: { bindingDeltas: [{ action: 'ADD', role: 'roles/cloudkms.cryptoKeyEncrypterDecrypter', member }] } },
      }),
    ];
  }
}

/** A Cloud Storage data-access entry, as an audit-log sink without a service filter also carries. */
function storageEntry(rng: Rng, p: GcpProject, caller: GcpCaller, time: number): Record<string, unknown> {
  const ts = isoTime(time, rng.int(1000));
  return {
    protoPayload: {
      '@type': AUDIT_TYPE,
      status: {},
      authenticationInfo: { principalEmail: caller.identity },
      requestMetadata: { callerIp: rng.pick(caller.ips), callerSuppliedUserAgent: caller.userAgent },
      serviceName: 'storage.googleapis.com',
      methodName: 'storage.objects.get',
      authorizationInfo: [{ resource: `projects/_/buckets/${p.project}-data/objects/part-${rng.int(1000)}.parquet`, permission: 'storage.objects.get', granted: true, permissionType: 'DATA_READ' }],
      resourceName: `projects/_/buckets/${p.project}-data/objects/part-${rng.int(1000)}.parquet`,
    },
    insertId: rng.hex(12),
    resource: { type: 'gcs_bucket', labels: { project_id: p.project, bucket_name: `${p.project}-data`, location: p.location } },
    timestamp: ts,
    severity: 'INFO',
    logName: `projects/${p.project}/logs/cloudaudit.googleapis.com%2Fdata_access`,
    receiveTimestamp: ts,
  };
}

/** Buffered, backpressure-aware line writer. */
class LineFile {
  readonly out: Writable;
  private pending = '';
  lines = 0;
  constructor(readonly path: string) {
    this.out = createWriteStream(path);
  }
  async line(s: string): Promise<void> {
    this.pending += s + '\n';
    this.lines++;
    if (this.pending.length >= FLUSH_CHARS) await this.flush();
  }
  private async flush(): Promise<void> {
    const chunk = this.pending;
    this.pending = '';
    if (!this.out.write(chunk)) await once(this.out, 'drain');
  }
  async close(): Promise<void> {
    if (this.pending.length > 0) await this.flush();
    this.out.end();
    await once(this.out, 'finish');
  }
}

/** A fresh copy of the estate, since key versions advance as the demo rotates keys. */
function estate(withIncidentOnly: boolean): GcpProject[] {
  return structuredClone(GCP_DEMO_PROJECTS).filter((p) => withIncidentOnly || !p.incidentOnly);
}

async function writeNatural(o: DemoSourceOptions): Promise<{ files: string[]; records: number }> {
  const rng = new Rng(o.seed ^ 0x6c0d);
  const f = new EntryFactory(rng);
  const projects = estate(o.incidents);
  const startMs = Math.floor(o.start.getTime() / MS_HOUR) * MS_HOUR;
  const hours = Math.round(o.days * 24);
  const lastDayStart = Math.floor((startMs + hours * MS_HOUR - 1) / MS_DAY) * MS_DAY;
  // Generated when their hour comes, so that they see the keys as routine rotations left them.
  const incidentsByHour = new Map<number, { id: IncidentId; t0: number }[]>();
  if (o.incidents) {
    for (const i of INCIDENTS) {
      const t0 = incidentTime(o.start, o.days, i);
      const h = Math.floor((t0 - startMs) / MS_HOUR);
      incidentsByHour.set(h, [...(incidentsByHour.get(h) ?? []), { id: i.id, t0 }]);
    }
  }

  const files: string[] = [];
  const open = new Map<string, LineFile>();
  let records = 0;
  const pushed = new LineFile(join(o.dir, `gcp-kms_pubsub-push_acme-kms-prod_${new Date(lastDayStart).toISOString().slice(0, 10).replace(/-/g, '')}.ndjson`));
  let day = -1;
  const closeAll = async () => {
    for (const file of open.values()) await file.close();
    open.clear();
  };
  const fileFor = (project: string, log: LogType, dayMs: number) => {
    const key = `${project}/${log}`;
    let file = open.get(key);
    if (!file) {
      file = new LineFile(join(o.dir, `gcp-kms_${project}_${log}_${new Date(dayMs).toISOString().slice(0, 10).replace(/-/g, '')}.json`));
      files.push(file.path);
      open.set(key, file);
    }
    return file;
  };

  for (let h = 0; h < hours; h++) {
    const hourStart = startMs + h * MS_HOUR;
    const dayMs = Math.floor(hourStart / MS_DAY) * MS_DAY;
    if (dayMs !== day) {
      await closeAll();
      day = dayMs;
    }
    const factor = diurnal(new Date(hourStart).getUTCHours());
    const batch: { t: number; project: GcpProject; entry: Record<string, unknown> }[] = [];
    for (const p of projects) {
      for (const caller of p.callers) {
        const n = Math.round(caller.perHour * factor * (0.7 + 0.6 * rng.next()));
        for (let i = 0; i < n; i++) {
          const name = rng.pick(caller.uses);
          const key = p.keys.find((k) => k.name === name) as GcpKey;
          const t = hourStart + rng.int(MS_HOUR);
          batch.push({ t, project: p, entry: f.use(p, caller, key, t) });
          if (rng.next() < 0.03) batch.push({ t: t + 50, project: p, entry: storageEntry(rng, p, caller, t + 50) });
        }
      }
      // A few metadata reads and, on working hours, now and then a management change.
      if (rng.next() < 0.25 * factor) {
        const t = hourStart + rng.int(MS_HOUR);
        batch.push({ t, project: p, entry: f.adminRead(p, t) });
      }
      // Changes are made by people or by the Terraform pipeline they run on a merge: in office hours.
      if (rng.next() < 0.06 * factor && inOfficeHours(hourStart)) {
        const t = hourStart + rng.int(MS_HOUR - 120_000);
        for (const e of f.adminWrite(p, t)) batch.push({ t: Date.parse(String(e.timestamp)), project: p, entry: e });
      }
    }
    for (const { id, t0 } of incidentsByHour.get(h) ?? []) {
      for (const e of f.incident(projects, id, t0)) {
        const project = projects.find((p) => String(e.logName).startsWith(`projects/${p.project}/`)) as GcpProject;
        batch.push({ t: Date.parse(String(e.timestamp)), project, entry: e });
      }
    }
    batch.sort((a, b) => a.t - b.t);
    for (const { project, entry } of batch) {
      const log: LogType = String(entry.logName).endsWith('activity') ? 'activity' : 'data_access';
      // Without Data Access logs, the project's key use and metadata reads are never written.
      if (log === 'data_access' && !project.dataAccess) continue;
      const line = JSON.stringify(entry);
      await fileFor(project.project, log, dayMs).line(line);
      records++;
      // The Pub/Sub sink filters on protoPayload.serviceName="cloudkms.googleapis.com".
      const kms = (entry.protoPayload as { serviceName: string }).serviceName === 'cloudkms.googleapis.com';
      if (dayMs === lastDayStart && log === 'data_access' && project.project === 'acme-kms-prod' && kms) {
        const envelope = {
          message: {
            attributes: { 'logging.googleapis.com/timestamp': entry.timestamp },
            data: Buffer.from(line).toString('base64'),
            messageId: String(10593825710000000 + pushed.lines),
            publishTime: new Date(Date.parse(String(entry.timestamp)) + 1500).toISOString(),
          },
          subscription: 'projects/acme-sec-tools/subscriptions/keywatch-kms-audit',
        };
        await pushed.line(JSON.stringify(envelope));
        records++;
      }
    }
  }
  await closeAll();
  await pushed.close();
  files.push(pushed.path);
  return { files, records };
}

/** Bench volume: about `records` entries in one NDJSON file, written as fast as possible, no incidents. */
async function writeBench(o: DemoSourceOptions & { records: number }): Promise<{ files: string[]; records: number }> {
  const rng = new Rng(o.seed ^ 0xbe7c);
  const f = new EntryFactory(rng);
  const projects = estate(false);
  const file = new LineFile(join(o.dir, 'gcp-kms_bench.ndjson'));
  const startMs = o.start.getTime();
  const spanMs = Math.max(1, o.days) * MS_DAY;
  const callers = projects.flatMap((p) => p.callers.map((c) => [[p, c] as const, c.perHour] as const));
  for (let i = 0; i < o.records; i++) {
    const t = startMs + Math.floor((i / o.records) * spanMs) + rng.int(1000);
    const r = rng.next();
    let entries: Record<string, unknown>[];
    if (r < 0.95) {
      const [p, caller] = rng.weighted(callers);
      const name = rng.pick(caller.uses);
      const key = p.keys.find((k) => k.name === name) as GcpKey;
      entries = [f.use(p, caller, key, t)];
    } else if (r < 0.985) {
      entries = [f.adminRead(rng.pick(projects), t)];
    } else {
      entries = f.adminWrite(rng.pick(projects), t).slice(0, 1);
    }
    for (const e of entries) await file.line(JSON.stringify(e));
  }
  await file.close();
  return { files: [file.path], records: file.lines };
}

export const gcpKmsDemo: DemoSource = {
  source: 'gcp-kms',
  tenants: Object.fromEntries(GCP_DEMO_PROJECTS.map((p) => [p.project, p.tenant])),
  write: (o) => (o.records === undefined ? writeNatural(o) : writeBench({ ...o, records: o.records })),
  incidents: (o) =>
    INCIDENTS.map((i) => {
      const at = new Date(incidentTime(o.start, o.days, i)).toISOString();
      return { id: i.id, at, what: i.what, expect: EXPECT[i.id](at, o.start) } satisfies DemoIncident;
    }),
};

/** What should catch each incident (keywatch evaluate); the coverage gap is `keywatch status`'s, not a detector's. */
const EXPECT: Record<IncidentId, (at: string, start: Date) => NonNullable<DemoIncident['expect']>> = {
  'gcp-public-key-policy': (at) => ({ detectors: plusOffHours(at, ['policy-widened']), tenant: 'globex' }),
  'gcp-version-destroyed': (at) => ({ detectors: plusOffHours(at, ['key-disabled-or-deleted']), tenant: 'initech' }),
  'gcp-denied-decrypt-burst': (at, start) => ({ detectors: plusFirstUse(at, start, ['failure-spike', 'cross-account-use']), tenant: 'acme', principal: 'scraper@unknown-proj-7781', key_id: 'orders-cmek' }),
  'gcp-data-access-off': () => ({ detectors: [] }),
};
