import { basename } from 'node:path';
import type { TrustAnchor } from '../anchors.ts';
import { issue, type Issue } from '../codes.ts';
import type { Kcv, KcvAlgorithm } from '../kcv.ts';
import { attestationOutcome, evaluatePolicy, type PolicyName, type PolicyResult } from '../policy.ts';
import { inputDigest } from '../record.ts';
import type { AttestationReport } from '../report.ts';
import { fromAzureKeyAttestation, fromGoogleImportJob, fromGoogleKeyAttestation, type MarvellBundleInput } from './inputs.ts';
import { verifyMarvellBundle, type MarvellEvidence } from './verify.ts';

/**
 * One `keywatch attest marvell` run, from file contents to a report: picks the input adapter,
 * verifies every blob, applies the policy to a valid proof, and summarises the evidence.
 *
 * @example runMarvell({ attestation: readFileSync('rsa.dat'), attestationName: 'rsa.dat', certs: readFileSync('rsa.certs', 'utf8'), anchors, now })
 */
export type MarvellKind = 'google-key' | 'google-import-job' | 'azure';

export interface MarvellRunInput {
  /** The raw blob (gzip or not), or the vendor JSON (CryptoKeyVersion / attestation, ImportJob, Azure key bundle). */
  attestation: Buffer;
  attestationName: string;
  /** PEM bundle; required for a raw blob, optional extra certificates for vendor JSON. */
  certs?: string;
  publicKeyPem?: string;
  kind?: MarvellKind;
  policy?: PolicyName;
  /** The customer's KCV (hex); its algorithm defaults to the attested KCV's. */
  customerKcv?: { value: string; algorithm?: KcvAlgorithm };
  keyId?: string;
  anchors: readonly TrustAnchor[];
  now: Date;
}

export type MarvellRunResult = { ok: true; value: AttestationReport } | { ok: false; error: string };

const FORMAT = { 'google-key': 'marvell-gcp', 'google-import-job': 'marvell-gcp-import-job', azure: 'marvell-azure' } as const;

function looksLikeJson(b: Buffer): boolean {
  const s = b.subarray(0, 64).toString('utf8').trimStart();
  return s.startsWith('{');
}

function inferKind(doc: unknown): MarvellKind {
  if (typeof doc !== 'object' || doc === null) return 'google-key';
  if ('importMethod' in doc) return 'google-import-job';
  const attrs = (doc as { attributes?: { attestation?: unknown } }).attributes;
  return attrs?.attestation !== undefined ? 'azure' : 'google-key';
}

/** `size` comes from another blob when this one cannot tell (Azure's private-key blob carries no public point). */
function summaryOf(e: MarvellEvidence | undefined, size: string | undefined): Record<string, unknown> | undefined {
  if (!e) return undefined;
  const k = e.key;
  return {
    key: k ? `${k.class} ${e.size ?? size ?? k.keyType}` : undefined,
    ...(k && k.class !== 'public'
      ? { residency: `EXTRACTABLE=${b(k.extractable)} NEVER_EXTRACTABLE=${b(k.neverExtractable)} LOCAL=${b(k.local)} SENSITIVE=${b(k.sensitive)} ALWAYS_SENSITIVE=${b(k.alwaysSensitive)}` }
      : {}),
    kcv: e.kcv ? `${e.kcv.value} (${e.kcv.algorithm}${e.kcv.assumed ? ', algorithm assumed' : ''})` : undefined,
    ekcv: e.ekcv,
    binding: e.binding,
    manufacturerPartition: e.manufacturerPartition,
    ownerPartition: e.ownerPartition,
  };
}

const b = (v: boolean | undefined): string => (v === undefined ? '?' : v ? '1' : '0');

export function runMarvell(input: MarvellRunInput): MarvellRunResult {
  let adapted: MarvellBundleInput;
  let kind: MarvellKind;
  let jsonKeyId: string | undefined;
  const preFailures: Issue[] = [];
  if (looksLikeJson(input.attestation)) {
    let doc: unknown;
    try {
      doc = JSON.parse(input.attestation.toString('utf8'));
    } catch (e) {
      return { ok: false, error: `${input.attestationName} looks like JSON but does not parse: ${(e as Error).message}` };
    }
    kind = input.kind ?? inferKind(doc);
    const extra = input.certs ? [input.certs] : [];
    const r = kind === 'azure' ? fromAzureKeyAttestation(doc) : kind === 'google-import-job' ? fromGoogleImportJob(doc, extra) : fromGoogleKeyAttestation(doc, input.publicKeyPem, extra);
    const name = (doc as { name?: unknown }).name;
    jsonKeyId = typeof name === 'string' ? name : undefined;
    if (!r.ok) {
      preFailures.push(r.error);
      adapted = { blobs: [], certificates: [], requireOwnerChain: true, declaredFormat: 'unknown' };
    } else {
      adapted = r.value;
      if (kind === 'azure' && input.certs) adapted.certificates.push(input.certs);
      if (input.publicKeyPem && adapted.expectedKey === undefined) adapted.expectedKey = { pem: input.publicKeyPem };
    }
  } else {
    kind = input.kind ?? 'google-key';
    if (input.certs === undefined) return { ok: false, error: `${input.attestationName} is a raw attestation blob; give its certificate bundle with --certs` };
    adapted = {
      blobs: [{ name: 'attestation', attestation: input.attestation }],
      certificates: [input.certs],
      requireOwnerChain: kind !== 'azure',
      declaredFormat: 'raw',
      ...(input.publicKeyPem ? { expectedKey: { pem: input.publicKeyPem } } : {}),
    };
  }

  const result = verifyMarvellBundle(adapted, input.anchors, input.now);
  const failures = [...preFailures, ...result.blobs.flatMap((x) => x.result.failures), ...result.failures];
  const warnings = result.blobs.flatMap((x) => x.result.warnings);
  const multi = result.blobs.length > 1;
  const checks = [
    ...(preFailures.length ? [{ check: 'input', outcome: 'fail' as const }] : []),
    ...result.blobs.flatMap((x) => x.result.steps.map((s) => ({ check: multi ? `${x.name}: ${s.step}` : s.step, outcome: s.outcome }))),
    ...(multi ? [{ check: 'same key in every blob', outcome: result.failures.length ? ('fail' as const) : ('pass' as const) }] : []),
  ];
  const verdict = preFailures.length === 0 && result.verdict === 'valid' ? 'valid' : 'invalid';
  // The policy judges the private or secret object: Azure's private-key blob, Google's only blob.
  const main = result.blobs.find((x) => x.result.evidence?.key?.class !== 'public')?.result ?? result.blobs[0]?.result;
  let policy: PolicyResult | undefined;
  if (input.policy && verdict === 'valid' && main?.evidence) {
    let customerKcv: Kcv | undefined;
    if (input.customerKcv) {
      const algorithm = input.customerKcv.algorithm ?? main.evidence.kcv?.algorithm;
      if (algorithm) customerKcv = { algorithm, value: Buffer.from(input.customerKcv.value, 'hex') };
    }
    policy = evaluatePolicy(input.policy, main.evidence, customerKcv ? { customerKcv } : {});
  }
  if (result.blobs.length === 0 && preFailures.length === 0) failures.push(issue('DECODE_FAILED', 'the input holds no attestation blob'));
  const anchors = [...new Set(result.blobs.flatMap((x) => x.result.anchorsUsed.map((a) => a.id)))];
  const keyId = input.keyId ?? jsonKeyId ?? adapted.keyId ?? main?.evidence?.key?.id ?? `file:${basename(input.attestationName)}`;
  const report: AttestationReport = {
    format: FORMAT[kind],
    keyId,
    outcome: attestationOutcome(verdict, policy),
    policy: input.policy ?? '',
    checks,
    failures,
    policyFailures: policy?.failures ?? [],
    warnings,
    evidence: {
      kind,
      declaredFormat: adapted.declaredFormat,
      blobs: result.blobs.map((x) => ({ name: x.name, steps: x.result.steps, ...(x.result.evidence ? { evidence: x.result.evidence } : {}) })),
      ...(policy ? { policy: { name: policy.policy, outcome: policy.outcome, ...(policy.kcv ? { kcv: policy.kcv } : {}) } } : {}),
    },
    ...(main?.evidence ? { summary: { ...summaryOf(main.evidence, result.blobs.map((x) => x.result.evidence?.size).find((z) => z !== undefined)), ...(policy?.kcv ? { customerKcv: policy.kcv } : {}) } } : {}),
    anchors,
    inputSha256: inputDigest(input.certs === undefined ? [input.attestation] : [input.attestation, Buffer.from(input.certs, 'utf8')]),
  };
  return { ok: true, value: report };
}
