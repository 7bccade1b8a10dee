import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AlertRow } from '../engine.ts';
import { alertToOcsf, OCSF_VERSION } from './ocsf.ts';

// The OCSF 1.4.0 Detection Finding (class 2004) contract, written from the schema
// (https://schema.ocsf.io/1.4.0/classes/detection_finding; ocsf/ocsf-schema events/findings/
// detection_finding.json, finding.json, base_event.json and the objects below) independently of
// ocsf.ts: required attributes with their types, the optional attributes keywatch may use,
// enum values with their caption siblings, and the objects' at_least_one constraints. An
// attribute the schema does not define fails, so a misspelt name cannot slip through.

type AttrType = 'integer' | 'long' | 'timestamp' | 'string' | 'boolean' | 'float' | 'json' | ObjectSpec | { array: AttrType };
interface ObjectSpec {
  name: string;
  required?: Record<string, AttrType>;
  optional?: Record<string, AttrType>;
  atLeastOne?: string[];
  /** enum attribute -> { value: caption }, and the sibling holding the caption. */
  enums?: Record<string, { values: Record<number, string>; sibling: string }>;
}

const USER: ObjectSpec = {
  name: 'user',
  optional: { name: 'string', uid: 'string', type: 'string', type_id: 'integer', email_addr: 'string', domain: 'string', full_name: 'string', uid_alt: 'string' },
  atLeastOne: ['account', 'name', 'uid'],
};
const ACTOR: ObjectSpec = { name: 'actor', optional: { user: USER, app_name: 'string', app_uid: 'string' }, atLeastOne: ['process', 'user', 'invoked_by', 'session', 'app_name', 'app_uid'] };
const PRODUCT: ObjectSpec = { name: 'product', required: { name: 'string', vendor_name: 'string' }, optional: { uid: 'string', version: 'string', lang: 'string' } };
const METADATA: ObjectSpec = {
  name: 'metadata',
  required: { product: PRODUCT, version: 'string' },
  optional: { uid: 'string', log_name: 'string', log_provider: 'string', correlation_uid: 'string', event_code: 'string', labels: { array: 'string' }, logged_time: 'timestamp', original_time: 'string', processed_time: 'timestamp', tenant_uid: 'string' },
};
const ANALYTIC: ObjectSpec = {
  name: 'analytic',
  required: { type_id: 'integer' },
  optional: { uid: 'string', name: 'string', type: 'string', category: 'string', desc: 'string', version: 'string' },
  enums: { type_id: { values: { 0: 'Unknown', 1: 'Rule', 2: 'Behavioral', 3: 'Statistical', 4: 'Learning (ML/DL)', 99: 'Other' }, sibling: 'type' } },
};
const RELATED_EVENT: ObjectSpec = { name: 'related_event', required: { uid: 'string' }, optional: { type_uid: 'long', type: 'string', product_uid: 'string' } };
const FINDING_INFO: ObjectSpec = {
  name: 'finding_info',
  // title became recommended in 1.5.0; in 1.3.0 and before it is required, so it is always written.
  required: { uid: 'string', title: 'string' },
  optional: {
    desc: 'string',
    types: { array: 'string' },
    created_time: 'timestamp',
    modified_time: 'timestamp',
    first_seen_time: 'timestamp',
    last_seen_time: 'timestamp',
    analytic: ANALYTIC,
    related_events: { array: RELATED_EVENT },
    data_sources: { array: 'string' },
    src_url: 'string',
    product_uid: 'string',
  },
};
const RESOURCE_DETAILS: ObjectSpec = {
  name: 'resource_details',
  optional: { uid: 'string', name: 'string', type: 'string', region: 'string', cloud_partition: 'string', labels: { array: 'string' }, data: 'json', hostname: 'string' },
  atLeastOne: ['name', 'uid'],
};
const EVIDENCES: ObjectSpec = {
  name: 'evidences',
  optional: { data: 'json', actor: ACTOR, name: 'string', uid: 'string' },
  atLeastOne: ['actor', 'api', 'connection_info', 'data', 'database', 'databucket', 'device', 'dst_endpoint', 'email', 'file', 'process', 'query', 'resources', 'src_endpoint', 'url', 'user', 'job', 'script'],
};
const REMEDIATION: ObjectSpec = { name: 'remediation', required: { desc: 'string' }, optional: { references: { array: 'string' }, kb_article_list: { array: 'json' } } };

const DETECTION_FINDING: ObjectSpec = {
  name: 'detection_finding',
  required: { activity_id: 'integer', category_uid: 'integer', class_uid: 'integer', finding_info: FINDING_INFO, metadata: METADATA, severity_id: 'integer', time: 'timestamp', type_uid: 'long' },
  optional: {
    activity_name: 'string',
    category_name: 'string',
    class_name: 'string',
    type_name: 'string',
    timezone_offset: 'integer',
    start_time: 'timestamp',
    end_time: 'timestamp',
    count: 'integer',
    duration: 'long',
    severity: 'string',
    status: 'string',
    status_id: 'integer',
    status_code: 'string',
    status_detail: 'string',
    message: 'string',
    comment: 'string',
    is_alert: 'boolean',
    confidence: 'string',
    confidence_id: 'integer',
    confidence_score: 'integer',
    risk_level: 'string',
    risk_level_id: 'integer',
    risk_score: 'integer',
    impact: 'string',
    impact_id: 'integer',
    impact_score: 'integer',
    resources: { array: RESOURCE_DETAILS },
    actor: ACTOR,
    evidences: { array: EVIDENCES },
    remediation: REMEDIATION,
    raw_data: 'string',
    unmapped: 'json',
  },
  enums: {
    activity_id: { values: { 0: 'Unknown', 1: 'Create', 2: 'Update', 3: 'Close', 99: 'Other' }, sibling: 'activity_name' },
    category_uid: { values: { 2: 'Findings' }, sibling: 'category_name' },
    class_uid: { values: { 2004: 'Detection Finding' }, sibling: 'class_name' },
    severity_id: { values: { 0: 'Unknown', 1: 'Informational', 2: 'Low', 3: 'Medium', 4: 'High', 5: 'Critical', 6: 'Fatal', 99: 'Other' }, sibling: 'severity' },
    status_id: { values: { 0: 'Unknown', 1: 'New', 2: 'In Progress', 3: 'Suppressed', 4: 'Resolved', 5: 'Archived', 99: 'Other' }, sibling: 'status' },
    confidence_id: { values: { 0: 'Unknown', 1: 'Low', 2: 'Medium', 3: 'High', 99: 'Other' }, sibling: 'confidence' },
  },
};

/** Problems of `value` against `spec`, as `path: what`; empty when it conforms. */
function check(value: unknown, spec: ObjectSpec, path: string): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${path}: not an object (${spec.name})`];
  const v = value as Record<string, unknown>;
  const problems: string[] = [];
  const known = { ...spec.required, ...spec.optional };
  for (const k of Object.keys(spec.required ?? {})) if (v[k] === undefined) problems.push(`${path}.${k}: required by ${spec.name}, missing`);
  for (const [k, x] of Object.entries(v)) {
    const t = known[k];
    if (t === undefined) problems.push(`${path}.${k}: not an attribute of ${spec.name}`);
    else problems.push(...checkType(x, t, `${path}.${k}`));
  }
  if (spec.atLeastOne && !spec.atLeastOne.some((k) => v[k] !== undefined)) problems.push(`${path}: ${spec.name} needs at least one of ${spec.atLeastOne.join(', ')}`);
  for (const [k, e] of Object.entries(spec.enums ?? {})) {
    if (v[k] === undefined) continue;
    const caption = e.values[v[k] as number];
    if (caption === undefined) problems.push(`${path}.${k}: ${String(v[k])} is not a value of the enum`);
    else if (v[e.sibling] !== undefined && v[e.sibling] !== caption) problems.push(`${path}.${e.sibling}: "${String(v[e.sibling])}" is not the caption of ${k} ${String(v[k])} ("${caption}")`);
  }
  return problems;
}

function checkType(x: unknown, t: AttrType, path: string): string[] {
  if (typeof t === 'object' && 'array' in t) {
    if (!Array.isArray(x)) return [`${path}: not an array`];
    return x.flatMap((item, i) => checkType(item, t.array, `${path}[${i}]`));
  }
  if (typeof t === 'object') return check(x, t, path);
  const ok = {
    integer: Number.isInteger(x) && Math.abs(x as number) < 2 ** 31,
    long: Number.isInteger(x),
    // timestamp_t: milliseconds since the epoch; a value in seconds would be before 1973.
    timestamp: Number.isInteger(x) && (x as number) > 1e11,
    string: typeof x === 'string',
    boolean: typeof x === 'boolean',
    float: typeof x === 'number',
    json: x !== undefined,
  }[t];
  return ok ? [] : [`${path}: ${JSON.stringify(x)} is not ${t}`];
}

function validateDetectionFinding(f: unknown): string[] {
  const problems = check(f, DETECTION_FINDING, '$');
  const v = f as Record<string, unknown>;
  if (v.type_uid !== (v.class_uid as number) * 100 + (v.activity_id as number)) problems.push(`$.type_uid: ${String(v.type_uid)} is not class_uid * 100 + activity_id`);
  if (v.type_name !== undefined && v.type_name !== `${String(v.class_name)}: ${String(v.activity_name)}`) problems.push(`$.type_name: "${String(v.type_name)}" is not "<class>: <activity>"`);
  const version = (v.metadata as { version?: unknown } | undefined)?.version;
  if (typeof version !== 'string' || !/^1\.\d+\.\d+$/.test(version)) problems.push(`$.metadata.version: ${String(version)} is not an OCSF 1.x version`);
  return problems;
}

const FIXTURES = new URL('./fixtures/', import.meta.url);
const fixture = (name: string) => JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8')) as AlertRow;
const expected = (name: string) => JSON.parse(readFileSync(new URL(`${name}.ocsf.expected.json`, FIXTURES), 'utf8')) as unknown;

describe('alerts as OCSF Detection Findings (class 2004)', () => {
  for (const name of ['baseline-anomaly', 'no-principal']) {
    it(`maps the ${name} alert to the reviewed finding, which has every required attribute of class 2004, typed`, () => {
      const f = alertToOcsf(fixture(name), 'create', { revision: 'rev1' });
      expect(validateDetectionFinding(f)).toEqual([]);
      expect(f).toEqual(expected(name));
    });
  }

  it('marks a revised alert as an Update (type_uid 200402) and keeps it valid', () => {
    const f = alertToOcsf(fixture('baseline-anomaly'), 'update');
    expect(validateDetectionFinding(f)).toEqual([]);
    expect(f).toMatchObject({ activity_id: 2, activity_name: 'Update', type_uid: 200402, type_name: 'Detection Finding: Update' });
  });

  it('maps every keywatch severity to its OCSF severity_id', () => {
    const base = fixture('baseline-anomaly');
    const ids = (['info', 'low', 'medium', 'high', 'critical'] as const).map((severity) => alertToOcsf({ ...base, severity }).severity_id);
    expect(ids).toEqual([1, 2, 3, 4, 5]);
  });

  it('carries the alert fields the issue asks for: id, detector, title, severity, score, key, principal, tenant, time range, evidence and runbook', () => {
    const a = fixture('baseline-anomaly');
    const f = alertToOcsf(a);
    expect(f.finding_info).toMatchObject({ uid: a.alert_id, title: a.title, analytic: { uid: a.detector, type_id: 1, type: 'Rule' }, first_seen_time: Date.parse('2026-03-02T11:00:00Z'), last_seen_time: Date.parse('2026-03-02T11:59:58.250Z') });
    expect(f.finding_info.related_events?.map((e) => e.uid)).toEqual(a.event_ids);
    expect(f.resources).toEqual([{ uid: a.key_id, type: 'Key', name: a.key_id }]);
    expect(f.actor?.user).toEqual({ name: a.principal, uid: a.principal });
    expect(f.evidences[0]?.data).toMatchObject({ baseline_median: 180, baseline_mad: 22.5, robust_z: 120.1 });
    expect(f).toMatchObject({ severity_id: 3, confidence_score: 73, risk_score: 73, remediation: { desc: a.runbook }, unmapped: { tenant: 'acme', score: 72.5 }, metadata: { version: OCSF_VERSION } });
  });

  it('rejects what is not a Detection Finding, so the check above can fail', () => {
    const f = alertToOcsf(fixture('baseline-anomaly')) as unknown as Record<string, unknown>;
    const broken = { ...f, time: '2026-03-02', severity_id: 9, finding_info: { title: 'x' }, evidence: [] };
    expect(validateDetectionFinding(broken)).toEqual([
      '$.time: "2026-03-02" is not timestamp',
      '$.finding_info.uid: required by finding_info, missing',
      '$.evidence: not an attribute of detection_finding',
      '$.severity_id: 9 is not a value of the enum',
    ]);
  });
});
