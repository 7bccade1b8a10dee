import { issue, type Issue } from './codes.ts';
import { compareKcv, type Kcv } from './kcv.ts';
import type { KeyObjectEvidence } from './marvell/attributes.ts';

/**
 * Residency policies, applied to the evidence of a VALID attestation. The outcome "denied" means
 * the proof is genuine but the key does not meet the policy; it is never conflated with an
 * invalid proof (see `attestationOutcome`).
 *
 * - generated-in-hsm: EXTRACTABLE=0, NEVER_EXTRACTABLE=1, LOCAL=1, SENSITIVE=1, ALWAYS_SENSITIVE=1.
 * - byok-imported: keys imported under BYOK legitimately show LOCAL=0 and NEVER_EXTRACTABLE=0
 *   (and ALWAYS_SENSITIVE=0); still EXTRACTABLE=0 and SENSITIVE=1, plus the attested KCV must
 *   match the check value of the customer's own copy of the key.
 * Public-key objects are never judged: a public key is extractable by nature.
 *
 * @example evaluatePolicy('byok-imported', evidence, { customerKcv: { algorithm: 'aes-ecb', value } })
 */
export const POLICIES = ['generated-in-hsm', 'byok-imported'] as const;
export type PolicyName = (typeof POLICIES)[number];

export interface PolicyEvidence {
  key: KeyObjectEvidence | undefined;
  kcv?: { algorithm: Kcv['algorithm']; value: string; assumed: boolean };
}

export interface PolicyOptions {
  /** KCV of the customer's copy of the key (their HSM's CKA_CHECK_VALUE, or spki-sha1 of their public key). */
  customerKcv?: Kcv;
}

export interface PolicyResult {
  policy: PolicyName;
  outcome: 'allowed' | 'denied';
  failures: Issue[];
  /** How the KCV requirement was met, when the policy has one. */
  kcv?: 'match' | 'mismatch' | 'incomparable' | 'unavailable';
}

export function evaluatePolicy(policy: PolicyName, evidence: PolicyEvidence, opts: PolicyOptions = {}): PolicyResult {
  const failures: Issue[] = [];
  const key = evidence.key;
  if (key === undefined || key.class === 'public') {
    failures.push(issue('POLICY_NO_KEY_OBJECT', 'the attestation has no private- or secret-key object'));
    return { policy, outcome: 'denied', failures };
  }
  if (key.extractable !== false) failures.push(issue('POLICY_KEY_EXTRACTABLE', `EXTRACTABLE is ${String(key.extractable)}`));
  if (key.sensitive !== true) failures.push(issue('POLICY_KEY_NOT_SENSITIVE', `SENSITIVE is ${String(key.sensitive)}`));
  if (policy === 'generated-in-hsm') {
    if (key.neverExtractable !== true) failures.push(issue('POLICY_KEY_WAS_EXTRACTABLE', `NEVER_EXTRACTABLE is ${String(key.neverExtractable)}`));
    if (key.local !== true) failures.push(issue('POLICY_KEY_NOT_LOCAL', `LOCAL is ${String(key.local)}: the key was imported or unwrapped, not generated in the HSM`));
    if (key.alwaysSensitive !== true) failures.push(issue('POLICY_KEY_WAS_NOT_SENSITIVE', `ALWAYS_SENSITIVE is ${String(key.alwaysSensitive)}`));
    return { policy, outcome: failures.length === 0 ? 'allowed' : 'denied', failures };
  }
  let kcv: PolicyResult['kcv'];
  if (evidence.kcv === undefined || opts.customerKcv === undefined) {
    kcv = 'unavailable';
    failures.push(issue('POLICY_KCV_UNAVAILABLE', evidence.kcv === undefined ? 'the attestation carries no KCV (0x0173)' : "no KCV of the customer's key was given"));
  } else {
    const attested: Kcv = { algorithm: evidence.kcv.algorithm, value: Buffer.from(evidence.kcv.value, 'hex') };
    kcv = compareKcv(attested, opts.customerKcv);
    if (kcv === 'incomparable') {
      failures.push(issue('POLICY_KCV_UNAVAILABLE', `the attested KCV is ${attested.algorithm}, the customer KCV is ${opts.customerKcv.algorithm} (or too short): they cannot be compared`));
    } else if (kcv === 'mismatch') {
      failures.push(issue('POLICY_KCV_MISMATCH', `attested KCV ${evidence.kcv.value} (${attested.algorithm}${evidence.kcv.assumed ? ', algorithm assumed' : ''}) differs from the customer's ${opts.customerKcv.value.toString('hex')}`));
    }
  }
  return { policy, outcome: failures.length === 0 ? 'allowed' : 'denied', failures, kcv };
}

/**
 * The three-way outcome for CI exit codes: 'fail' (the proof is invalid; policy not evaluated),
 * 'policy-fail' (valid proof, policy denied), 'pass'.
 */
export function attestationOutcome(verdict: 'valid' | 'invalid', policy?: PolicyResult): 'pass' | 'fail' | 'policy-fail' {
  if (verdict === 'invalid') return 'fail';
  return policy?.outcome === 'denied' ? 'policy-fail' : 'pass';
}
