import { Rng } from './rng.ts';
import { DEMO_TENANTS, demoKeys, type DemoKey, type DemoRole, type DemoTenant } from './estate.ts';
import { inOfficeHours } from './sources/demo-source.ts';
import { PAYROLL_KEY_ID } from './config.ts';

/**
 * Synthetic AWS CloudTrail KMS traffic in the documented record layout (CloudTrail user guide,
 * "AWS KMS log file examples"). Used by `keywatch demo` and by bench/ingest.
 */
export type CloudTrailRecord = Record<string, unknown>;

export interface IncidentNote {
  id: string;
  at: string;
  what: string;
}

const MS_HOUR = 3_600_000;

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

interface CallArgs {
  time: number;
  key: DemoKey;
  role: DemoRole;
  tenant: DemoTenant;
  eventName: string;
  rng: Rng;
  callerAccount?: string;
  callerArn?: string;
  sourceIp?: string;
  errorCode?: string;
  errorMessage?: string;
  requestParameters?: Record<string, unknown> | null;
  responseElements?: Record<string, unknown> | null;
  readOnly?: boolean;
}

function identityFor(a: CallArgs): Record<string, unknown> {
  const account = a.callerAccount ?? a.key.account;
  if (a.callerArn !== undefined) {
    return {
      type: 'IAMUser',
      principalId: `AIDA${a.rng.hex(16).toUpperCase()}`,
      arn: a.callerArn,
      accountId: account,
      accessKeyId: `AKIA${a.rng.hex(16).toUpperCase()}`,
      userName: a.callerArn.split('/').pop(),
    };
  }
  if (a.role.kind === 'service') {
    return { type: 'AWSService', invokedBy: a.role.name };
  }
  if (a.role.kind === 'user') {
    return {
      type: 'IAMUser',
      principalId: `AIDA${a.rng.hex(16).toUpperCase()}`,
      arn: `arn:aws:iam::${account}:user/${a.role.name}`,
      accountId: account,
      accessKeyId: `AKIA${a.rng.hex(16).toUpperCase()}`,
      userName: a.role.name,
      sessionContext: { attributes: { creationDate: isoSeconds(a.time - 600_000), mfaAuthenticated: 'true' } },
    };
  }
  const session = `${a.role.name}-${a.rng.hex(8)}`;
  const roleId = `AROA${a.rng.hex(16).toUpperCase()}`;
  return {
    type: 'AssumedRole',
    principalId: `${roleId}:${session}`,
    arn: `arn:aws:sts::${account}:assumed-role/${a.role.name}/${session}`,
    accountId: account,
    accessKeyId: `ASIA${a.rng.hex(16).toUpperCase()}`,
    sessionContext: {
      sessionIssuer: {
        type: 'Role',
        principalId: roleId,
        arn: `arn:aws:iam::${account}:role/${a.role.name}`,
        accountId: account,
        userName: a.role.name,
      },
      attributes: { creationDate: isoSeconds(a.time - 900_000), mfaAuthenticated: 'false' },
    },
  };
}

function apiCall(a: CallArgs): CloudTrailRecord {
  const { key, rng } = a;
  const service = a.role.kind === 'service';
  const rec: CloudTrailRecord = {
    eventVersion: '1.11',
    userIdentity: identityFor(a),
    eventTime: isoSeconds(a.time),
    eventSource: 'kms.amazonaws.com',
    eventName: a.eventName,
    awsRegion: key.region,
    sourceIPAddress: a.sourceIp ?? (service ? a.role.name : rng.pick(a.role.ips)),
    userAgent: a.role.userAgent,
  };
  if (a.errorCode !== undefined) {
    rec.errorCode = a.errorCode;
    rec.errorMessage = a.errorMessage ?? 'The request failed';
  }
  rec.requestParameters = a.requestParameters === undefined ? { keyId: key.arn } : a.requestParameters;
  rec.responseElements = a.responseElements ?? null;
  if (key.customKeyStoreId !== undefined && ['Decrypt', 'Encrypt', 'GenerateDataKey', 'ReEncrypt'].includes(a.eventName)) {
    rec.additionalEventData = {
      customKeyStoreId: key.customKeyStoreId,
      ...(key.origin === 'EXTERNAL_KEY_STORE' ? { xksKeyId: `${key.tenant}-hsm-${key.alias}` } : {}),
    };
  }
  rec.requestID = rng.uuid();
  rec.eventID = rng.uuid();
  rec.readOnly = a.readOnly ?? false;
  if (a.errorCode === undefined || a.eventName !== 'CreateKey') {
    rec.resources = [{ accountId: key.account, type: 'AWS::KMS::Key', ARN: key.arn }];
  }
  rec.eventType = 'AwsApiCall';
  rec.managementEvent = true;
  rec.recipientAccountId = key.account;
  if (a.callerAccount !== undefined && a.callerAccount !== key.account) rec.sharedEventID = rng.uuid();
  rec.eventCategory = 'Management';
  if (!service) {
    rec.tlsDetails = {
      tlsVersion: 'TLSv1.3',
      cipherSuite: 'TLS_AES_128_GCM_SHA256',
      clientProvidedHostHeader: `kms.${key.region}.amazonaws.com`,
    };
  }
  return rec;
}

function serviceEvent(time: number, key: DemoKey, eventName: string, rng: Rng, details: Record<string, unknown>): CloudTrailRecord {
  return {
    eventVersion: '1.11',
    userIdentity: { accountId: key.account, invokedBy: 'AWS Internal' },
    eventTime: isoSeconds(time),
    eventSource: 'kms.amazonaws.com',
    eventName,
    awsRegion: key.region,
    sourceIPAddress: 'AWS Internal',
    userAgent: 'AWS Internal',
    requestParameters: null,
    responseElements: null,
    eventID: rng.uuid(),
    readOnly: false,
    resources: [{ accountId: key.account, type: 'AWS::KMS::Key', ARN: key.arn }],
    eventType: 'AwsServiceEvent',
    managementEvent: true,
    recipientAccountId: key.account,
    serviceEventDetails: { keyId: key.keyId, ...details },
    eventCategory: 'Management',
  };
}

function encryptionContext(key: DemoKey, rng: Rng): Record<string, string> {
  if (key.alias === 'warehouse') return { 'aws:s3:arn': `arn:aws:s3:::${key.tenant}-warehouse/part-${rng.int(9999)}.parquet` };
  if (key.alias === 'ledger') return { 'aws:dynamodb:tableName': 'ledger', 'aws:dynamodb:subscriberId': key.account };
  if (key.alias === 'hr') return { 'aws:rds:db-id': 'db-HRPROD7XQ2' };
  return { tenant: key.tenant, table: rng.pick(['invoices', 'customers', 'orders', 'shipments']) };
}

/** One ordinary data-plane call by a principal on one of its keys. */
function routineCall(time: number, tenant: DemoTenant, role: DemoRole, key: DemoKey, rng: Rng): CloudTrailRecord {
  const ec = encryptionContext(key, rng);
  if (key.spec === 'ECC_NIST_P256') {
    const name = rng.weighted([['Sign', 8], ['Verify', 1], ['GetPublicKey', 1]] as const);
    const params: Record<string, unknown> =
      name === 'GetPublicKey'
        ? { keyId: key.arn }
        : { keyId: key.arn, messageType: 'DIGEST', signingAlgorithm: 'ECDSA_SHA_256' };
    return apiCall({ time, key, role, tenant, eventName: name, rng, requestParameters: params, readOnly: name !== 'Sign' });
  }
  const name = rng.weighted([
    ['Decrypt', 50],
    ['GenerateDataKey', 25],
    ['Encrypt', 10],
    ['DescribeKey', 6],
    ['ReEncrypt', 2],
    ['GenerateDataKeyWithoutPlaintext', 2],
    ['ListAliases', 2],
    ['DecryptDenied', 1.5],
  ] as const);
  switch (name) {
    case 'Decrypt':
      return apiCall({ time, key, role, tenant, eventName: 'Decrypt', rng, readOnly: true, requestParameters: { encryptionAlgorithm: 'SYMMETRIC_DEFAULT', encryptionContext: ec, keyId: key.arn } });
    case 'DecryptDenied':
      return apiCall({ time, key, role, tenant, eventName: 'Decrypt', rng, readOnly: true, errorCode: 'InvalidCiphertextException', errorMessage: 'The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.', requestParameters: { encryptionAlgorithm: 'SYMMETRIC_DEFAULT', encryptionContext: ec } });
    case 'GenerateDataKey':
    case 'GenerateDataKeyWithoutPlaintext':
      return apiCall({ time, key, role, tenant, eventName: name, rng, readOnly: true, requestParameters: { keyId: `alias/${key.alias}`, keySpec: 'AES_256', encryptionContext: ec } });
    case 'Encrypt':
      return apiCall({ time, key, role, tenant, eventName: 'Encrypt', rng, readOnly: true, requestParameters: { keyId: key.arn, encryptionAlgorithm: 'SYMMETRIC_DEFAULT', encryptionContext: ec } });
    case 'ReEncrypt':
      return apiCall({ time, key, role, tenant, eventName: 'ReEncrypt', rng, readOnly: true, requestParameters: { sourceKeyId: key.arn, destinationKeyId: key.arn, sourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT', destinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT', sourceEncryptionContext: ec, destinationEncryptionContext: ec } });
    case 'DescribeKey':
      return apiCall({ time, key, role, tenant, eventName: 'DescribeKey', rng, readOnly: true, requestParameters: { keyId: `alias/${key.alias}` } });
    case 'ListAliases':
      return apiCall({ time, key, role, tenant, eventName: 'ListAliases', rng, readOnly: true, requestParameters: null });
  }
}

function adminCall(time: number, tenant: DemoTenant, role: DemoRole, key: DemoKey, rng: Rng): CloudTrailRecord {
  const name = rng.weighted([
    ['GetKeyRotationStatus', 4],
    ['GetKeyPolicy', 3],
    ['ListGrants', 2],
    ['TagResource', 1],
    ['EnableKeyRotation', 1],
    ['CreateGrant', 1],
    ['RetireGrant', 0.5],
  ] as const);
  switch (name) {
    case 'CreateGrant':
      return apiCall({ time, key, role, tenant, eventName: name, rng, requestParameters: { keyId: key.arn, granteePrincipal: `arn:aws:iam::${key.account}:role/etl-worker`, operations: ['Decrypt', 'GenerateDataKey'], constraints: { encryptionContextSubset: { tenant: key.tenant } } }, responseElements: { grantId: rng.hex(64), keyId: key.arn } });
    case 'RetireGrant':
      return apiCall({ time, key, role, tenant, eventName: name, rng, requestParameters: { keyId: key.arn, grantId: rng.hex(64) } });
    case 'TagResource':
      return apiCall({ time, key, role, tenant, eventName: name, rng, requestParameters: { keyId: key.arn, tags: [{ tagKey: 'cost-center', tagValue: String(1000 + rng.int(9000)) }] } });
    case 'EnableKeyRotation':
      return apiCall({ time, key, role, tenant, eventName: name, rng, requestParameters: { keyId: key.arn, rotationPeriodInDays: 365 } });
    default:
      return apiCall({ time, key, role, tenant, eventName: name, rng, readOnly: true, requestParameters: name === 'GetKeyPolicy' ? { keyId: key.arn, policyName: 'default' } : { keyId: key.arn } });
  }
}

export interface GenerateOptions {
  seed?: number;
  /** First hour of traffic (UTC). */
  start: Date;
  days: number;
  /** Multiplies every principal's hourly rate; the bench turns it up to reach its event count. */
  rateScale?: number;
  incidents?: boolean;
}

/**
 * Yields CloudTrail KMS records hour by hour, in time order within each hour. With `incidents`,
 * a handful of attacks and mistakes are mixed in; `incidentNotes` lists them.
 */
export function* generateCloudTrail(opts: GenerateOptions): Generator<CloudTrailRecord> {
  const rng = new Rng(opts.seed ?? 7);
  const keys = demoKeys();
  const scale = opts.rateScale ?? 1;
  const startMs = Math.floor(opts.start.getTime() / MS_HOUR) * MS_HOUR;
  const hours = Math.round(opts.days * 24);
  const incidents = opts.incidents ? incidentEvents(startMs, hours, keys, rng) : new Map<number, CloudTrailRecord[]>();
  const rotationOff = INCIDENTS.find((i) => i.id === 'rotation-turned-off');
  const rotationOffMs = opts.incidents && rotationOff ? startMs + incidentHour(hours, startMs, rotationOff) * MS_HOUR : undefined;
  const rotationOffKey = keys.find((k) => k.tenant === 'initech' && k.alias === 'reports');
  for (let h = 0; h < hours; h++) {
    const hourStart = startMs + h * MS_HOUR;
    const hourOfDay = new Date(hourStart).getUTCHours();
    const dayOfWeek = new Date(hourStart).getUTCDay();
    // Business traffic peaks mid-day on weekdays; nights and weekends run at a third.
    const diurnal = (dayOfWeek === 0 || dayOfWeek === 6 ? 0.35 : 1) * (0.35 + 0.65 * Math.exp(-((hourOfDay - 13) ** 2) / 18));
    const batch: { t: number; rec: CloudTrailRecord }[] = [];
    for (const tenant of DEMO_TENANTS) {
      for (const role of tenant.roles) {
        // Key administrators are people: they work in office hours.
        if (role.kind === 'user' && !inOfficeHours(hourStart)) continue;
        const expected = role.opsPerHour * diurnal * scale * (role.kind === 'user' ? 1 : tenant.accounts.length);
        let n = Math.floor(expected);
        if (rng.next() < expected - n) n++;
        const own = keys.filter((k) => k.tenant === tenant.name && (role.kind === 'user' || role.uses.includes(k.alias)));
        for (let i = 0; i < n && own.length > 0; i++) {
          const key = rng.pick(own);
          const t = hourStart + rng.int(MS_HOUR);
          batch.push({ t, rec: role.kind === 'user' ? adminCall(t, tenant, role, key, rng) : routineCall(t, tenant, role, key, rng) });
        }
      }
    }
    // Scheduled rotation: each key rotates once a year; in a short demo window, one per day or so.
    if (hourOfDay === 2 && rng.next() < 0.6) {
      const key = rng.pick(keys.filter((k) => k.origin === 'AWS_KMS'));
      // Once the rotation-turned-off incident has happened, AWS no longer rotates that key.
      if (!(rotationOffMs !== undefined && hourStart > rotationOffMs && key === rotationOffKey)) {
        batch.push({ t: hourStart + 1_000, rec: serviceEvent(hourStart + 1_000, key, 'RotateKey', rng, {}) });
      }
    }
    for (const rec of incidents.get(h) ?? []) batch.push({ t: Date.parse(String(rec.eventTime)), rec });
    batch.sort((a, b) => a.t - b.t);
    for (const b of batch) yield b.rec;
  }
}

/** What `generateCloudTrail({incidents: true})` injects, for the demo's closing summary. */
export function incidentNotes(opts: GenerateOptions): IncidentNote[] {
  const startMs = Math.floor(opts.start.getTime() / MS_HOUR) * MS_HOUR;
  const hours = Math.round(opts.days * 24);
  const notes: IncidentNote[] = INCIDENTS.map((i) => ({ id: i.id, what: i.what, at: isoSeconds(startMs + incidentHour(hours, startMs, i) * MS_HOUR + i.minute * 60_000) }));
  const endMs = startMs + hours * MS_HOUR;
  const lastNoon = Math.floor((endMs - 1) / MS_DAY) * MS_DAY + 12 * MS_HOUR;
  const payroll = payrollCreation(startMs, hours);
  if (payroll !== undefined) {
    notes.push({ id: 'byok-key-imported', at: isoSeconds(payroll + 240_000), what: 'initech creates a BYOK key for payroll (origin EXTERNAL) and imports its material once; tps-reports uses it from then on' });
    notes.push({ id: 'byok-material-stale', at: isoSeconds(lastNoon), what: `the payroll key's imported material is older than its 14-day cryptoperiod and was never re-imported, while tps-reports keeps using it` });
  }
  const mrk = mrkCreation(startMs, hours);
  if (mrk !== undefined) {
    notes.push({ id: 'mrk-key-not-replicated', at: isoSeconds(lastNoon), what: `acme creates a multi-Region key in eu-central-1 on ${isoSeconds(mrk).slice(0, 10)} and orders-api uses it, but it is never replicated to eu-west-1, acme's DR region for Frankfurt` });
  }
  return notes;
}

const MS_DAY = 86_400_000;
const isWeekend = (ms: number) => [0, 6].includes(new Date(ms).getUTCDay());

/** The payroll BYOK key is created on the first weekday of the traffic at 10:15, when the demo is long enough for its cryptoperiod (14 days) to lapse. */
function payrollCreation(startMs: number, hours: number): number | undefined {
  if (hours < 18 * 24) return undefined;
  let day = Math.ceil(startMs / MS_DAY) * MS_DAY;
  while (isWeekend(day)) day += MS_DAY;
  return day + 10 * MS_HOUR + 15 * 60_000;
}

/** The multi-Region key is created on the last weekday at least three days before the last day, at 11:05. */
function mrkCreation(startMs: number, hours: number): number | undefined {
  if (hours < 5 * 24) return undefined;
  let day = Math.floor((startMs + hours * MS_HOUR - 1) / MS_DAY) * MS_DAY - 3 * MS_DAY;
  while (isWeekend(day)) day -= MS_DAY;
  return day < startMs ? undefined : day + 11 * MS_HOUR + 5 * 60_000;
}

/** CloudTrail's creationDate format in CreateKey responses: `Mar 2, 2026, 11:20:09 AM`. */
function consoleDate(ms: number): string {
  const d = new Date(ms);
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const h = d.getUTCHours() % 12 === 0 ? 12 : d.getUTCHours() % 12;
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${months[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()}, ${h}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCHours() < 12 ? 'AM' : 'PM'}`;
}

const INCIDENTS = [
  { id: 'external-decrypt-burst', daysBack: 2, hour: 3, minute: 12, what: 'an identity from outside the estate (account 999988887777) decrypts 300 times in 5 minutes with the acme payments key, at night, from 203.0.113.66' },
  { id: 'key-disabled-then-deletion', daysBack: 2, hour: 22, minute: 41, what: 'globex billing key disabled, then scheduled for deletion (7 days) by secops late in the evening' },
  { id: 'policy-wildcard', daysBack: 1, hour: 9, minute: 5, what: 'acme orders key policy replaced by one that allows Principal "*"' },
  { id: 'access-denied-spike', daysBack: 1, hour: 14, minute: 20, what: 'initech tps-reports gets 120 AccessDeniedException errors in 10 minutes' },
  { id: 'imported-material-deleted', daysBack: 1, hour: 19, minute: 33, what: 'imported key material deleted from the globex ledger key (BYOK), then re-imported with an expiry' },
  { id: 'external-grant', daysBack: 0, hour: 1, minute: 50, what: 'a grant on the acme orders key to an external account (999988887777)' },
  { id: 'rotation-turned-off', daysBack: 1, hour: 15, minute: 20, what: 'automatic rotation of the initech reports key turned off (DisableKeyRotation) by lumbergh, and never turned on again' },
  { id: 'enumeration-burst', daysBack: 0, hour: 4, minute: 31, what: 'the leaked access key of acme\'s ci-legacy user, from 198.51.100.77, lists keys, aliases, policies and grants and decrypts with the orders key: 130 calls of 6 kinds in under a minute' },
] as const;

/**
 * Hour index (from the start) of an incident: `daysBack` days before the last day of traffic, at
 * a fixed UTC time of day, moved a day earlier if that is past the end and clamped to the window.
 */
function incidentHour(hours: number, startMs: number, i: { daysBack: number; hour: number }): number {
  const endMs = startMs + hours * MS_HOUR;
  const lastDay = Math.floor((endMs - 1) / 86_400_000) * 86_400_000;
  let at = lastDay - i.daysBack * 86_400_000 + i.hour * MS_HOUR;
  if (at >= endMs) at -= 86_400_000;
  return Math.min(hours - 1, Math.max(0, Math.round((at - startMs) / MS_HOUR)));
}

function incidentEvents(startMs: number, hours: number, keys: DemoKey[], rng: Rng): Map<number, CloudTrailRecord[]> {
  const out = new Map<number, CloudTrailRecord[]>();
  const add = (h: number, rec: CloudTrailRecord) => {
    const list = out.get(h) ?? [];
    list.push(rec);
    out.set(h, list);
  };
  const tenant = (name: string) => DEMO_TENANTS.find((t) => t.name === name) as DemoTenant;
  const key = (t: string, alias: string) => keys.find((k) => k.tenant === t && k.alias === alias) as DemoKey;
  const role = (t: string, name: string) => tenant(t).roles.find((r) => r.name === name) as DemoRole;
  const at = (i: (typeof INCIDENTS)[number]) => {
    const h = incidentHour(hours, startMs, i);
    return { h, t0: startMs + h * MS_HOUR + i.minute * 60_000 };
  };
  const [burst, disable, wildcard, denied, material, grant, rotationOff, enumeration] = INCIDENTS;
  {
    const { h, t0 } = at(burst);
    const k = key('acme', 'payments');
    for (let i = 0; i < 300; i++) {
      add(h, apiCall({ time: t0 + i * 1000, key: k, role: role('acme', 'orders-api'), tenant: tenant('acme'), eventName: 'Decrypt', rng, readOnly: true, callerAccount: '999988887777', callerArn: 'arn:aws:iam::999988887777:user/mallory', sourceIp: '203.0.113.66', requestParameters: { encryptionAlgorithm: 'SYMMETRIC_DEFAULT', encryptionContext: { tenant: 'acme', table: 'customers' }, keyId: k.arn } }));
    }
  }
  {
    const { h, t0 } = at(disable);
    const k = key('globex', 'billing');
    const r = role('globex', 'secops');
    add(h, apiCall({ time: t0, key: k, role: r, tenant: tenant('globex'), eventName: 'DisableKey', rng }));
    add(h, apiCall({ time: t0 + 95_000, key: k, role: r, tenant: tenant('globex'), eventName: 'ScheduleKeyDeletion', rng, requestParameters: { keyId: k.arn, pendingWindowInDays: 7 }, responseElements: { keyId: k.arn, deletionDate: isoSeconds(t0 + 7 * 24 * MS_HOUR), keyState: 'PendingDeletion', pendingWindowInDays: 7 } }));
  }
  {
    const { h, t0 } = at(wildcard);
    const k = key('acme', 'orders');
    const policy = JSON.stringify({ Version: '2012-10-17', Id: 'key-default-1', Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${k.account}:root` }, Action: 'kms:*', Resource: '*' }, { Sid: 'Allow use', Effect: 'Allow', Principal: '*', Action: ['kms:Decrypt', 'kms:GenerateDataKey*'], Resource: '*' }] });
    add(h, apiCall({ time: t0, key: k, role: role('acme', 'kms-admin'), tenant: tenant('acme'), eventName: 'PutKeyPolicy', rng, requestParameters: { keyId: k.arn, policyName: 'default', policy, bypassPolicyLockoutSafetyCheck: false } }));
  }
  {
    const { h, t0 } = at(denied);
    const k = key('initech', 'hr');
    for (let i = 0; i < 120; i++) {
      add(h, apiCall({ time: t0 + i * 5000, key: k, role: role('initech', 'tps-reports'), tenant: tenant('initech'), eventName: 'Decrypt', rng, readOnly: true, errorCode: 'AccessDeniedException', errorMessage: `User: arn:aws:sts::${k.account}:assumed-role/tps-reports/x is not authorized to perform: kms:Decrypt on resource: ${k.arn} because no identity-based policy allows the kms:Decrypt action`, requestParameters: { encryptionAlgorithm: 'SYMMETRIC_DEFAULT', keyId: k.arn } }));
    }
  }
  {
    const { h, t0 } = at(material);
    const k = key('globex', 'ledger');
    const r = role('globex', 'secops');
    add(h, apiCall({ time: t0, key: k, role: r, tenant: tenant('globex'), eventName: 'DeleteImportedKeyMaterial', rng }));
    add(h, apiCall({ time: t0 + 240_000, key: k, role: r, tenant: tenant('globex'), eventName: 'GetParametersForImport', rng, readOnly: true, requestParameters: { keyId: k.arn, wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_4096' } }));
    add(h, apiCall({ time: t0 + 300_000, key: k, role: r, tenant: tenant('globex'), eventName: 'ImportKeyMaterial', rng, requestParameters: { keyId: k.arn, validTo: isoSeconds(t0 + 30 * 24 * MS_HOUR), expirationModel: 'KEY_MATERIAL_EXPIRES' } }));
  }
  {
    const { h, t0 } = at(grant);
    const k = key('acme', 'orders');
    add(h, apiCall({ time: t0, key: k, role: role('acme', 'kms-admin'), tenant: tenant('acme'), eventName: 'CreateGrant', rng, requestParameters: { keyId: k.arn, granteePrincipal: 'arn:aws:iam::999988887777:root', operations: ['Decrypt', 'Encrypt', 'GenerateDataKey'] }, responseElements: { grantId: rng.hex(64), keyId: k.arn } }));
  }
  {
    const { h, t0 } = at(rotationOff);
    const k = key('initech', 'reports');
    add(h, apiCall({ time: t0, key: k, role: role('initech', 'lumbergh'), tenant: tenant('initech'), eventName: 'DisableKeyRotation', rng, requestParameters: { keyId: k.arn } }));
  }
  {
    // A script with stolen keys: enumerate, read policies and grants, then decrypt what it can.
    const { h, t0 } = at(enumeration);
    const account = '210987654322';
    const own = keys.filter((k) => k.account === account && k.region === 'eu-central-1');
    const k = own.find((x) => x.alias === 'orders') as DemoKey;
    const ci: DemoRole = { name: 'ci-legacy', kind: 'user', uses: [], ips: ['198.51.100.77'], userAgent: 'Boto3/1.28.40 md/Botocore#1.31.40 ua/2.0 os/linux#5.15.0 md/arch#x86_64 lang/python#3.11.4', opsPerHour: 0 };
    const callerArn = `arn:aws:iam::${account}:user/ci-legacy`;
    const plan: string[] = [
      ...Array<string>(4).fill('ListKeys'), ...Array<string>(4).fill('ListAliases'), ...Array<string>(36).fill('DescribeKey'),
      ...Array<string>(30).fill('GetKeyPolicy'), ...Array<string>(26).fill('ListGrants'), ...Array<string>(30).fill('Decrypt'),
    ];
    plan.forEach((name, i) => {
      const time = t0 + Math.floor((i * 55_000) / plan.length);
      const target = name === 'Decrypt' ? k : (own[i % own.length] as DemoKey);
      const params: Record<string, unknown> | null =
        name === 'ListKeys' || name === 'ListAliases' ? null
        : name === 'GetKeyPolicy' ? { keyId: target.arn, policyName: 'default' }
        : name === 'Decrypt' ? { encryptionAlgorithm: 'SYMMETRIC_DEFAULT', encryptionContext: { tenant: 'acme', table: 'customers' }, keyId: k.arn }
        : { keyId: target.arn };
      const rec = apiCall({ time, key: target, role: ci, tenant: tenant('acme'), eventName: name, rng, callerArn, callerAccount: account, sourceIp: '198.51.100.77', readOnly: true, requestParameters: params });
      // List calls name no key: CloudTrail writes no resources for them.
      if (params === null) delete rec.resources;
      add(h, rec);
    });
  }
  byokPayroll(startMs, hours, rng, add, tenant('initech'), role('initech', 'lumbergh'), role('initech', 'tps-reports'));
  multiRegionKey(startMs, hours, rng, add, tenant('acme'), role('acme', 'kms-admin'), role('acme', 'orders-api'));
  return out;
}

type Add = (h: number, rec: CloudTrailRecord) => void;

/** A few data-plane calls an hour with `key` by `user` from `from` to the end of the traffic. */
function useFrom(from: number, startMs: number, hours: number, rng: Rng, add: Add, t: DemoTenant, user: DemoRole, key: DemoKey): void {
  for (let h = Math.ceil((from - startMs) / MS_HOUR) + 1; h < hours; h++) {
    const n = 1 + rng.int(3);
    for (let i = 0; i < n; i++) {
      const time = startMs + h * MS_HOUR + rng.int(MS_HOUR);
      add(h, routineCall(time, t, user, key, rng));
    }
  }
}

/** initech's payroll BYOK key: created, its material imported once, then used; never re-imported. */
function byokPayroll(startMs: number, hours: number, rng: Rng, add: Add, t: DemoTenant, admin: DemoRole, user: DemoRole): void {
  const t0 = payrollCreation(startMs, hours);
  if (t0 === undefined) return;
  const hr = demoKeys().find((k) => k.tenant === 'initech' && k.alias === 'hr') as DemoKey;
  const key: DemoKey = { ...hr, keyId: PAYROLL_KEY_ID, arn: `arn:aws:kms:${hr.region}:${hr.account}:key/${PAYROLL_KEY_ID}`, alias: 'payroll', origin: 'EXTERNAL', spec: 'SYMMETRIC_DEFAULT' };
  const h = Math.floor((t0 - startMs) / MS_HOUR);
  const metadata = { aWSAccountId: key.account, keyId: key.keyId, arn: key.arn, creationDate: consoleDate(t0), enabled: false, description: 'payroll BYOK (material from initech-luna-1)', keyUsage: 'ENCRYPT_DECRYPT', keyState: 'PendingImport', origin: 'EXTERNAL', keyManager: 'CUSTOMER', customerMasterKeySpec: 'SYMMETRIC_DEFAULT', keySpec: 'SYMMETRIC_DEFAULT', multiRegion: false };
  add(h, apiCall({ time: t0, key, role: admin, tenant: t, eventName: 'CreateKey', rng, requestParameters: { description: metadata.description, keyUsage: 'ENCRYPT_DECRYPT', keySpec: 'SYMMETRIC_DEFAULT', origin: 'EXTERNAL', multiRegion: false, bypassPolicyLockoutSafetyCheck: false }, responseElements: { keyMetadata: metadata } }));
  add(h, apiCall({ time: t0 + 150_000, key, role: admin, tenant: t, eventName: 'GetParametersForImport', rng, readOnly: true, requestParameters: { keyId: key.keyId, wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_4096' } }));
  add(h, apiCall({ time: t0 + 240_000, key, role: admin, tenant: t, eventName: 'ImportKeyMaterial', rng, requestParameters: { keyId: key.keyId, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', importType: 'NEW_KEY_MATERIAL' }, responseElements: { keyId: key.arn, keyMaterialId: rng.hex(64) } }));
  useFrom(t0 + 240_000, startMs, hours, rng, add, t, user, key);
}

/** acme's new multi-Region key in Frankfurt: created and used, never replicated. */
function multiRegionKey(startMs: number, hours: number, rng: Rng, add: Add, t: DemoTenant, admin: DemoRole, user: DemoRole): void {
  const t0 = mrkCreation(startMs, hours);
  if (t0 === undefined) return;
  const base = demoKeys().find((k) => k.tenant === 'acme' && k.alias === 'orders' && k.region === 'eu-central-1' && k.account === '210987654321') as DemoKey;
  const keyId = `mrk-${rng.hex(32)}`;
  const key: DemoKey = { ...base, keyId, arn: `arn:aws:kms:${base.region}:${base.account}:key/${keyId}`, alias: 'invoices', origin: 'AWS_KMS', spec: 'SYMMETRIC_DEFAULT' };
  const h = Math.floor((t0 - startMs) / MS_HOUR);
  const metadata = { aWSAccountId: key.account, keyId, arn: key.arn, creationDate: consoleDate(t0), enabled: true, description: 'invoices (multi-Region, DR copy in eu-west-1)', keyUsage: 'ENCRYPT_DECRYPT', keyState: 'Enabled', origin: 'AWS_KMS', keyManager: 'CUSTOMER', customerMasterKeySpec: 'SYMMETRIC_DEFAULT', keySpec: 'SYMMETRIC_DEFAULT', encryptionAlgorithms: ['SYMMETRIC_DEFAULT'], multiRegion: true, multiRegionConfiguration: { multiRegionKeyType: 'PRIMARY', primaryKey: { arn: key.arn, region: key.region }, replicaKeys: [] } };
  add(h, apiCall({ time: t0, key, role: admin, tenant: t, eventName: 'CreateKey', rng, requestParameters: { description: metadata.description, keyUsage: 'ENCRYPT_DECRYPT', keySpec: 'SYMMETRIC_DEFAULT', origin: 'AWS_KMS', multiRegion: true, bypassPolicyLockoutSafetyCheck: false }, responseElements: { keyMetadata: metadata } }));
  useFrom(t0 + 600_000, startMs, hours, rng, add, t, user, key);
}
