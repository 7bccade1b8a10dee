import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { issue, type Issue } from '../codes.ts';
import { compareKcv, spkiSha1Kcv, spkiSha256, type Kcv } from '../kcv.ts';
import type { KeyObjectEvidence } from '../marvell/attributes.ts';
import { attestationOutcome, evaluatePolicy, type PolicyName, type PolicyResult } from '../policy.ts';
import { sameSpki, spkiFromEcPoint, spkiFromRsa, type EcCurve } from '../spki.ts';
import { openPkcs11Session, Pkcs11CallError, type KeyAttributes, type ObjectHandle, type Pkcs11Session, type SlotSelector } from './session.ts';

/**
 * Live residency evidence of one key on a PKCS#11 token: the attributes that say where the key came
 * from and whether it can leave, its KCV (the token's CKA_CHECK_VALUE, or AES-ECB of a zero block
 * computed inside the HSM when the token leaves it empty), a proof of possession for private keys
 * (the token signs a fresh nonce, node:crypto verifies it), a comparison with the cloud provider's
 * KCV, and a verdict through the shared residency policies. Never throws on a token problem.
 *
 * @example
 *   const r = await attestPkcs11({ modulePath, slot: { label: 'prod' }, pin, key: { label: 'kek-1' }, policy: 'byok-imported', providerKcv });
 *   r.verdict // 'pass' | 'fail' | 'policy-fail'
 */
export interface KeySelector {
  label?: string;
  id?: Buffer;
}

export interface Pkcs11AttestOptions {
  policy?: PolicyName;
  /**
   * The KCV the cloud provider reports (or attests) for its copy of the key. Without an algorithm
   * it is taken to follow the token's convention for the key found: AES-ECB (3DES-ECB) for secret
   * keys, SHA-1 of the SPKI for key pairs.
   */
  providerKcv?: { algorithm?: Kcv['algorithm']; value: Buffer };
  /** The public key the provider holds (DER SPKI), to tie the token's key pair to it. */
  spki?: Buffer;
}

export interface Pkcs11Evidence {
  slotId: string;
  tokenLabel: string;
  key?: {
    class: KeyAttributes['class'];
    keyType: string;
    label: string;
    id: string;
    valueLen?: number;
    modulusBits?: number;
    curve?: string;
    extractable?: boolean;
    neverExtractable?: boolean;
    local?: boolean;
    sensitive?: boolean;
    alwaysSensitive?: boolean;
    wrapWithTrusted?: boolean;
    keyGenMechanism?: string;
    /** CKA_CHECK_VALUE as read, hex ('' when the token keeps it empty). */
    checkValue?: string;
  };
  kcv?: { algorithm: Kcv['algorithm']; value: string; source: 'check-value' | 'computed-in-hsm' | 'public-key' };
  /** SHA-256 of the DER SPKI of the key pair's public key (what a Marvell EKCV binds to). */
  spkiSha256?: string;
  /** The key pair's public key, DER SPKI in base64, to bind a provider attestation to (`verifyMarvell` expectedKey). */
  spki?: string;
  possession?: { scheme: string; nonceSha256: string; verified: boolean };
  providerKcv?: { algorithm: Kcv['algorithm']; value: string; comparison: 'match' | 'mismatch' | 'incomparable' };
}

export interface Pkcs11Attestation {
  verdict: 'pass' | 'fail' | 'policy-fail';
  failures: Issue[];
  warnings: Issue[];
  evidence: Pkcs11Evidence;
  policy?: PolicyResult;
}

const CURVES: Record<string, EcCurve> = {
  '06082a8648ce3d030107': 'P-256',
  '06052b81040022': 'P-384',
  '06052b81040023': 'P-521',
  '06052b8104000a': 'secp256k1',
};

/** Opens the session, attests the key and always closes the session. */
export function attestPkcs11(opts: { modulePath: string; slot: SlotSelector; pin: string; key: KeySelector } & Pkcs11AttestOptions): Pkcs11Attestation {
  const opened = openPkcs11Session({ modulePath: opts.modulePath, slot: opts.slot, pin: opts.pin });
  if (!opened.ok) {
    const code = opened.error.stage === 'module' ? 'PKCS11_MODULE_UNAVAILABLE' : opened.error.stage === 'slot' ? 'PKCS11_SLOT_NOT_FOUND' : 'PKCS11_LOGIN_FAILED';
    return { verdict: 'fail', failures: [issue(code, opened.error.message)], warnings: [], evidence: { slotId: '', tokenLabel: '' } };
  }
  try {
    return attestKey(opened.value, opts.key, opts);
  } finally {
    opened.value.close();
  }
}

/** Attests one key on an open session. */
export function attestKey(session: Pkcs11Session, selector: KeySelector, opts: Pkcs11AttestOptions = {}): Pkcs11Attestation {
  const evidence: Pkcs11Evidence = { slotId: session.slotId, tokenLabel: session.tokenLabel };
  const failures: Issue[] = [];
  const warnings: Issue[] = [];
  const done = (policy?: PolicyResult): Pkcs11Attestation => ({
    verdict: failures.length > 0 ? 'fail' : attestationOutcome('valid', policy),
    failures,
    warnings,
    evidence,
    ...(policy ? { policy } : {}),
  });
  const wanted = selector.label !== undefined ? `label ${JSON.stringify(selector.label)}` : `id ${selector.id?.toString('hex') ?? ''}`;
  try {
    const handles = session.findKeys(selector);
    const keys = handles.map((h) => ({ h, a: session.readKeyAttributes(h) })).filter((k) => k.a.class === 'secret' || k.a.class === 'private');
    const [key, ...others] = keys;
    if (key === undefined) {
      failures.push(issue('PKCS11_KEY_NOT_FOUND', `no private or secret key with ${wanted} on token ${JSON.stringify(session.tokenLabel)}`));
      return done();
    }
    if (others.length > 0) {
      failures.push(issue('PKCS11_KEY_AMBIGUOUS', `${keys.length} private or secret keys have ${wanted}; select by --id`));
      return done();
    }
    const a = key.a;
    const curve = a.ecParams === undefined ? undefined : CURVES[a.ecParams.toString('hex')];
    evidence.key = {
      class: a.class,
      keyType: a.keyType,
      label: a.label,
      id: a.id,
      ...pick(a, ['valueLen', 'modulusBits', 'extractable', 'neverExtractable', 'local', 'sensitive', 'alwaysSensitive', 'wrapWithTrusted', 'keyGenMechanism']),
      ...(curve !== undefined ? { curve } : {}),
      ...(a.checkValue !== undefined ? { checkValue: a.checkValue.toString('hex') } : {}),
    };
    if (a.class === 'secret') secretKcv(session, key.h, a, evidence, warnings);
    else privateKeyProof(session, key.h, a, curve, opts.spki, evidence, failures, warnings);
    if (failures.length > 0) return done();

    let policy: PolicyResult | undefined;
    const providerKcv: Kcv | undefined =
      opts.providerKcv === undefined
        ? undefined
        : { algorithm: opts.providerKcv.algorithm ?? evidence.kcv?.algorithm ?? (a.keyType === 'des3' ? 'tdes-ecb' : a.class === 'secret' ? 'aes-ecb' : 'spki-sha1'), value: opts.providerKcv.value };
    const ownKcv = evidence.kcv === undefined ? undefined : { algorithm: evidence.kcv.algorithm, value: Buffer.from(evidence.kcv.value, 'hex') };
    if (providerKcv !== undefined) {
      const comparison = ownKcv === undefined ? 'incomparable' : compareKcv(ownKcv, providerKcv);
      evidence.providerKcv = { algorithm: providerKcv.algorithm, value: providerKcv.value.toString('hex'), comparison };
    }
    if (opts.policy !== undefined) {
      const keyEvidence: KeyObjectEvidence = { handle: 0, class: a.class === 'secret' ? 'secret' : 'private', keyType: a.keyType, ...pick(a, ['extractable', 'neverExtractable', 'local', 'sensitive', 'alwaysSensitive', 'wrapWithTrusted']) };
      policy = evaluatePolicy(
        opts.policy,
        { key: keyEvidence, ...(evidence.kcv ? { kcv: { algorithm: evidence.kcv.algorithm, value: evidence.kcv.value, assumed: false } } : {}) },
        providerKcv ? { customerKcv: providerKcv } : {},
      );
    }
    // A provider KCV that differs means the cloud holds another key, whatever the policy says.
    if (evidence.providerKcv?.comparison === 'mismatch' && !policy?.failures.some((f) => f.code === 'POLICY_KCV_MISMATCH')) {
      const mismatch = issue('POLICY_KCV_MISMATCH', `the token's KCV ${evidence.kcv?.value ?? ''} (${evidence.kcv?.algorithm ?? ''}) differs from the provider's ${evidence.providerKcv.value}`);
      policy = policy
        ? { ...policy, outcome: 'denied', failures: [...policy.failures, mismatch], kcv: 'mismatch' }
        : { policy: 'byok-imported', outcome: 'denied', failures: [mismatch], kcv: 'mismatch' };
    }
    return done(policy);
  } catch (err) {
    if (err instanceof Pkcs11CallError) {
      failures.push(issue('PKCS11_CALL_FAILED', err.message));
      return done();
    }
    throw err;
  }
}

function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function secretKcv(session: Pkcs11Session, h: ObjectHandle, a: KeyAttributes, evidence: Pkcs11Evidence, warnings: Issue[]): void {
  const algorithm = a.keyType === 'aes' ? 'aes-ecb' : a.keyType === 'des3' ? 'tdes-ecb' : undefined;
  if (algorithm === undefined) {
    // SoftHSM fills CHECK_VALUE of a generic secret with SHA-1 of the value: not a convention a provider shares.
    warnings.push(issue('PKCS11_KCV_UNAVAILABLE', `no KCV convention for a ${a.keyType} key`));
    return;
  }
  if (a.checkValue !== undefined && a.checkValue.length > 0) {
    evidence.kcv = { algorithm, value: a.checkValue.toString('hex'), source: 'check-value' };
    return;
  }
  if (algorithm !== 'aes-ecb') {
    warnings.push(issue('PKCS11_KCV_UNAVAILABLE', 'CKA_CHECK_VALUE is empty and only AES check values are computed in the HSM'));
    return;
  }
  try {
    const block = session.aesEcbZeroBlock(h);
    evidence.kcv = { algorithm, value: block.subarray(0, 3).toString('hex'), source: 'computed-in-hsm' };
    warnings.push(issue('PKCS11_KCV_COMPUTED', 'CKA_CHECK_VALUE is empty (as after C_UnwrapKey); AES-ECB of a zero block was computed in the HSM'));
  } catch (err) {
    if (!(err instanceof Pkcs11CallError)) throw err;
    warnings.push(issue('PKCS11_KCV_UNAVAILABLE', `CKA_CHECK_VALUE is empty and the HSM would not encrypt a zero block: ${err.message}`));
  }
}

function publicSpki(a: KeyAttributes, curve: EcCurve | undefined): Buffer | undefined {
  if (a.keyType === 'rsa' && a.modulus && a.publicExponent) {
    const r = spkiFromRsa(a.modulus, a.publicExponent);
    return r.ok ? r.value : undefined;
  }
  if (a.keyType === 'ec' && a.ecPoint && curve) {
    const r = spkiFromEcPoint(a.ecPoint, curve);
    return r.ok ? r.value : undefined;
  }
  return undefined;
}

function privateKeyProof(
  session: Pkcs11Session,
  h: ObjectHandle,
  a: KeyAttributes,
  curve: EcCurve | undefined,
  givenSpki: Buffer | undefined,
  evidence: Pkcs11Evidence,
  failures: Issue[],
  warnings: Issue[],
): void {
  // The public object of a pair shares CKA_ID (PKCS#11 convention); fall back to the label.
  const pubHandles = session.findKeys(a.id !== '' ? { id: Buffer.from(a.id, 'hex'), class: 'public' } : { label: a.label, class: 'public' });
  const tokenSpkis = pubHandles.map((p) => publicSpki(session.readKeyAttributes(p), curve)).filter((s): s is Buffer => s !== undefined);
  const tokenSpki = tokenSpkis.length === 1 ? tokenSpkis[0] : undefined;
  if (givenSpki !== undefined && tokenSpki !== undefined && !sameSpki(givenSpki, tokenSpki)) {
    failures.push(issue('PKCS11_PUBLIC_KEY_MISMATCH', `the given SPKI hashes to ${spkiSha256(givenSpki).toString('hex')}, the token's public key to ${spkiSha256(tokenSpki).toString('hex')}`));
    return;
  }
  const spki = givenSpki ?? tokenSpki;
  if (spki === undefined) {
    warnings.push(issue('PKCS11_POSSESSION_UNAVAILABLE', tokenSpkis.length > 1 ? 'several public keys share the id; give the SPKI' : 'no public key object on the token and no SPKI given'));
    return;
  }
  evidence.spkiSha256 = spkiSha256(spki).toString('hex');
  evidence.spki = spki.toString('base64');
  evidence.kcv = { algorithm: 'spki-sha1', value: spkiSha1Kcv(spki).toString('hex'), source: 'public-key' };
  if (a.sign === false || (a.keyType !== 'rsa' && a.keyType !== 'ec')) {
    warnings.push(issue('PKCS11_POSSESSION_UNAVAILABLE', `the ${a.keyType} key does not allow signing (CKA_SIGN false) or has no signature scheme here`));
    return;
  }
  const nonce = randomBytes(32);
  const scheme = a.keyType === 'rsa' ? 'rsa-pkcs1-sha256' : 'ecdsa-raw';
  let signature: Buffer;
  try {
    // SoftHSM has no CKM_ECDSA_SHA256: EC keys sign a SHA-256 prehash with CKM_ECDSA.
    signature = session.sign(h, scheme, scheme === 'ecdsa-raw' ? createHash('sha256').update(nonce).digest() : nonce);
  } catch (err) {
    if (!(err instanceof Pkcs11CallError)) throw err;
    warnings.push(issue('PKCS11_POSSESSION_UNAVAILABLE', `the token would not sign the nonce: ${err.message}`));
    return;
  }
  const publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  const verified =
    scheme === 'ecdsa-raw'
      ? verify('sha256', nonce, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)
      : verify('sha256', nonce, publicKey, signature);
  evidence.possession = { scheme, nonceSha256: createHash('sha256').update(nonce).digest('hex'), verified };
  if (!verified) failures.push(issue('PKCS11_POSSESSION_FAILED', `the ${scheme} signature over a fresh nonce does not verify with the public key (SPKI SHA-256 ${evidence.spkiSha256})`));
}
