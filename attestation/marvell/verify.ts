import { constants, verify as verifySignature, type X509Certificate } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import type { TrustAnchor } from '../anchors.ts';
import { checkPath, parseBundle, pathsBelow, resolveRoots, type BundleCert, type ChainPath } from '../chain.ts';
import { issue, type Issue } from '../codes.ts';
import { spkiSha1Kcv, spkiSha256, type KcvAlgorithm } from '../kcv.ts';
import { spkiFromEcPoint, spkiFromRsa, spkiOf, type EcCurve, type PublicKeyInput } from '../spki.ts';
import { EC_POINT_CURVES, decodeObject, type KeyObjectEvidence } from './attributes.ts';
import { DEFAULT_LAYOUT_LIMITS, parseMarvellLayout, type MarvellLayout } from './layout.ts';

/**
 * Verifies a Marvell (Cavium) LiquidSecurity key attestation: an ordered list of checks, each
 * failing with a stable code (codes.ts). Verification says whether the proof is genuine and what
 * it states; whether that is acceptable is policy.ts's question.
 *
 * Order: 1 decode (bounded gunzip) -> 2 layout -> 3 attributes -> 4 certificate bundle ->
 * 5 manufacturer chain -> 6 signature with the manufacturer partition key -> 7 validity and
 * certificate rules on that path -> 8 owner chain (same card and partition keys, signature again)
 * -> 9 leftovers -> 10 attested key material against EKCV -> 11 binding to the expected key.
 * A step runs only when the steps it needs passed; later independent steps still run, so one
 * report lists, e.g., an expired certificate and a binding mismatch together.
 *
 * @example verifyMarvell({ attestation: gz, certificates: pemText, anchors, now: new Date(), expectedKey: { pem } })
 */
export interface MarvellInput {
  /** The blob, gzip-compressed (Google) or raw; detected by the gzip magic. */
  attestation: Buffer;
  /** PEM bundle text, or a list of PEM strings (Google's three lists concatenated). */
  certificates: string | readonly string[];
  anchors: readonly TrustAnchor[];
  now: Date;
  /** The public key the attestation must be about; absent = a BINDING_UNAVAILABLE warning. */
  expectedKey?: PublicKeyInput;
  /** Fail when no owner chain is present (Google: yes; Azure: the Microsoft root is not pinnable). */
  requireOwnerChain?: boolean;
  limits?: Partial<MarvellLimits>;
}

export interface MarvellLimits {
  /** Largest compressed or raw input accepted. */
  maxInputBytes: number;
  /** Largest decompressed blob; gunzip stops there (gzip bombs). Real blobs are 1 to 3 KiB. */
  maxDecompressedBytes: number;
  maxAttributes: number;
}

export const DEFAULT_MARVELL_LIMITS: MarvellLimits = { maxInputBytes: 1 << 20, maxDecompressedBytes: 1 << 20, maxAttributes: DEFAULT_LAYOUT_LIMITS.maxAttributes };

export interface AnchorUse {
  id: string;
  role: 'manufacturer' | 'owner';
  spkiSha256: string;
}

export interface MarvellEvidence {
  layout: 'marvell-header-v1';
  /** The private or secret object (or the only object); the one residency policies judge. */
  key: KeyObjectEvidence | undefined;
  objects: KeyObjectEvidence[];
  /** "RSA-2048", "EC P-256", "AES-256" ... when derivable. */
  size?: string;
  curve?: EcCurve;
  sizeBits?: number;
  /**
   * 0x0173. Asymmetric keys: SHA-1 of the SPKI, first 3 bytes (checked on real samples). Secret
   * keys: assumed AES/3DES-ECB of a zero block (AWS documents this for the same Marvell hardware;
   * no public sample confirms it), hence `assumed: true`.
   */
  kcv?: { algorithm: KcvAlgorithm; value: string; assumed: boolean };
  ekcv?: string;
  /** SHA-256 of the SPKI rebuilt from the attested modulus/point, when that was possible. */
  attestedSpkiSha256?: string;
  binding: 'ekcv-match' | 'not-requested' | 'unavailable' | 'mismatch';
  manufacturerPartition?: string;
  manufacturerCard?: string;
  ownerPartition?: string;
  ownerCard?: string;
  /** The pinned anchors the accepted chains end in (same list as MarvellVerification.anchorsUsed). */
  anchorsUsed: AnchorUse[];
}

/** The checks in the order they run; the README describes each. */
export const MARVELL_STEPS = [
  'decode',
  'layout',
  'attributes',
  'certificates',
  'manufacturer-chain',
  'signature',
  'chain-validity',
  'owner-chain',
  'key-material',
  'binding',
] as const;

export interface StepOutcome {
  step: (typeof MARVELL_STEPS)[number];
  outcome: 'pass' | 'fail' | 'skip';
}

export interface MarvellVerification {
  verdict: 'valid' | 'invalid';
  failures: Issue[];
  warnings: Issue[];
  steps: StepOutcome[];
  evidence?: MarvellEvidence;
  anchorsUsed: AnchorUse[];
}

export type DecodeResult = { ok: true; value: Buffer } | { ok: false; error: Issue };

/** Gunzips when the gzip magic is present, never inflating past `maxDecompressedBytes`. */
export function decodeBlob(input: Buffer, limits: MarvellLimits = DEFAULT_MARVELL_LIMITS): DecodeResult {
  if (input.length > limits.maxInputBytes) {
    return { ok: false, error: issue('INPUT_TOO_LARGE', `attestation of ${input.length} bytes exceeds ${limits.maxInputBytes}`) };
  }
  if (input.length < 2 || input[0] !== 0x1f || input[1] !== 0x8b) return { ok: true, value: input };
  try {
    return { ok: true, value: gunzipSync(input, { maxOutputLength: limits.maxDecompressedBytes }) };
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (e instanceof RangeError || code === 'ERR_BUFFER_TOO_LARGE') {
      return { ok: false, error: issue('DECOMPRESSED_TOO_LARGE', `gzip stream inflates past ${limits.maxDecompressedBytes} bytes; stopped`) };
    }
    return { ok: false, error: issue('DECODE_FAILED', `gzip stream is corrupt: ${(e as Error).message}`) };
  }
}

const SIGNATURE_BYTES = DEFAULT_LAYOUT_LIMITS.signatureLength;

function rsaModulusBytes(cert: X509Certificate): number | undefined {
  const key = cert.publicKey;
  if (key.asymmetricKeyType !== 'rsa') return undefined;
  const bits = key.asymmetricKeyDetails?.modulusLength;
  return bits === undefined ? undefined : bits / 8;
}

function signatureOk(cert: X509Certificate, layout: MarvellLayout): boolean {
  try {
    return verifySignature('sha256', layout.signedData, { key: cert.publicKey, padding: constants.RSA_PKCS1_PADDING }, layout.signature);
  } catch {
    return false;
  }
}

function bitLength(b: Buffer): number {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  if (i === b.length) return 0;
  return (b.length - i - 1) * 8 + (32 - Math.clz32(b[i]!));
}

interface Material {
  spki?: Buffer;
  curve?: EcCurve;
  sizeBits?: number;
}

/** Rebuilds the attested public key's SPKI from 0x0120/0x0122; for 65-byte points the EKCV picks the curve. */
function attestedMaterial(objects: KeyObjectEvidence[], ekcv: string | undefined): Material {
  const withModulus = objects.find((o) => o.modulus !== undefined);
  if (withModulus?.modulus === undefined) return {};
  const modulus = Buffer.from(withModulus.modulus, 'hex');
  if (withModulus.keyType === 'RSA' && withModulus.publicExponent !== undefined) {
    const r = spkiFromRsa(modulus, Buffer.from(withModulus.publicExponent, 'hex'));
    return r.ok ? { spki: r.value, sizeBits: bitLength(modulus) } : {};
  }
  if (withModulus.keyType === 'EC') {
    const curves = EC_POINT_CURVES[modulus.length] ?? [];
    let first: Material | undefined;
    for (const curve of curves) {
      const r = spkiFromEcPoint(modulus, curve);
      if (!r.ok) continue;
      const m = { spki: r.value, curve };
      if (ekcv === undefined || spkiSha256(r.value).toString('hex') === ekcv) return m;
      first ??= m;
    }
    return first ?? {};
  }
  return {};
}

export function verifyMarvell(input: MarvellInput): MarvellVerification {
  const limits = { ...DEFAULT_MARVELL_LIMITS, ...input.limits };
  const failures: Issue[] = [];
  const warnings: Issue[] = [];
  const steps: StepOutcome[] = [];
  const anchorsUsed: AnchorUse[] = [];
  const step = (name: StepOutcome['step'], issues: Issue[]): boolean => {
    failures.push(...issues);
    steps.push({ step: name, outcome: issues.length === 0 ? 'pass' : 'fail' });
    return issues.length === 0;
  };
  const done = (evidence?: MarvellEvidence): MarvellVerification => ({
    verdict: failures.length === 0 ? 'valid' : 'invalid',
    failures,
    warnings,
    // steps that did not run because an earlier one they need failed are listed as 'skip'
    steps: MARVELL_STEPS.map((name) => steps.find((x) => x.step === name) ?? { step: name, outcome: 'skip' }),
    ...(evidence ? { evidence } : {}),
    anchorsUsed,
  });
  const use = (p: ChainPath) => {
    if (!anchorsUsed.some((u) => u.id === p.root.anchor.id)) anchorsUsed.push({ id: p.root.anchor.id, role: p.root.anchor.role, spkiSha256: p.root.anchor.spkiSha256 });
  };

  // 1-3: decode, layout, attributes
  const decoded = decodeBlob(input.attestation, limits);
  if (!step('decode', decoded.ok ? [] : [decoded.error]) || !decoded.ok) return done();
  const parsed = parseMarvellLayout(decoded.value, { signatureLength: SIGNATURE_BYTES, maxAttributes: limits.maxAttributes });
  if (!step('layout', parsed.ok ? [] : [parsed.error]) || !parsed.ok) return done();
  const layout = parsed.value;
  const objects: KeyObjectEvidence[] = [];
  const attrIssues: Issue[] = [];
  for (const o of layout.objects) {
    const r = decodeObject(o);
    if (r.ok) objects.push(r.value);
    else attrIssues.push(r.error);
  }
  if (!step('attributes', attrIssues)) return done();
  const key = objects.find((o) => o.class !== 'public') ?? objects[0];
  const evidence: MarvellEvidence = { layout: 'marvell-header-v1', key, objects, binding: 'not-requested', anchorsUsed };
  if (key?.ekcv) evidence.ekcv = key.ekcv;
  if (key?.kcv) {
    const secret = key.class === 'secret';
    evidence.kcv = { algorithm: !secret ? 'spki-sha1' : key.keyType === 'DES3' ? 'tdes-ecb' : 'aes-ecb', value: key.kcv, assumed: secret };
  }
  if (key?.class === 'secret' && key.valueLength !== undefined) {
    evidence.sizeBits = key.valueLength * 8;
    evidence.size = `${key.keyType}-${key.valueLength * 8}`;
  }

  // 4: bundle
  const bundle = parseBundle(input.certificates);
  if (!step('certificates', bundle.ok ? [] : [bundle.error]) || !bundle.ok) {
    return done(evidence);
  }
  const resolved = resolveRoots(input.anchors, bundle.value);
  const mfrRoots = resolved.roots.filter((r) => r.anchor.role === 'manufacturer');
  const ownerRoots = resolved.roots.filter((r) => r.anchor.role === 'owner');
  const impostorIssues = (role: 'manufacturer' | 'owner'): Issue[] =>
    resolved.impostors
      .filter((i) => i.anchor.role === role)
      .map((i) => issue('CHAIN_ROOT_KEY_NOT_PINNED', `certificate #${i.cert.index} is named like pinned root ${i.anchor.id} but carries key ${i.cert.spkiSha256}`, i.cert.subject));

  // 5: manufacturer chain  pinned root -> card -> partition
  const mfrPaths = pathsBelow(mfrRoots, resolved.pool, 2);
  if (mfrPaths.length === 0) {
    const imp = impostorIssues('manufacturer');
    step('manufacturer-chain', imp.length > 0 ? imp : [issue('CHAIN_MFR_NOT_FOUND', 'no card and partition certificate link to a pinned manufacturer root by name and signature')]);
    return finishMaterial();
  }
  step('manufacturer-chain', []);

  // 6: signature by the manufacturer partition key
  const sized = mfrPaths.filter((p) => rsaModulusBytes(p.certs[1]!.cert) === SIGNATURE_BYTES);
  if (sized.length === 0) {
    step('signature', [issue('SIG_LENGTH_MISMATCH', `no manufacturer partition certificate has an RSA key of ${SIGNATURE_BYTES * 8} bits for the ${SIGNATURE_BYTES}-byte signature`, mfrPaths[0]!.certs[1]!.subject)]);
    return finishMaterial();
  }
  const signing = sized.filter((p) => signatureOk(p.certs[1]!.cert, layout));
  if (signing.length === 0) {
    step('signature', [issue('SIG_INVALID', 'the blob signature does not verify with any manufacturer partition key', sized[0]!.certs[1]!.subject)]);
    return finishMaterial();
  }
  step('signature', []);

  // 7: validity and certificate rules on the chosen path (prefer a path that passes them)
  const checked = signing.map((p) => ({ p, c: checkPath(p, input.now) }));
  const chosen = checked.find((x) => x.c.failures.length === 0) ?? checked[0]!;
  const mfrPath = chosen.p;
  use(mfrPath);
  warnings.push(...chosen.c.warnings);
  step('chain-validity', chosen.c.failures);
  const [mfrCard, mfrPartition] = mfrPath.certs as [BundleCert, BundleCert];
  evidence.manufacturerCard = mfrCard.subject;
  evidence.manufacturerPartition = mfrPartition.subject;
  const used = new Set<BundleCert>([mfrCard, mfrPartition]);

  // 8: owner chain  pinned owner root -> card, partition with the manufacturer's keys
  const ownerCerts = pathsBelow(ownerRoots, resolved.pool, 1);
  if (ownerCerts.length === 0) {
    const imp = impostorIssues('owner');
    if (imp.length > 0) step('owner-chain', imp);
    else if (input.requireOwnerChain ?? true) step('owner-chain', [issue('CHAIN_OWNER_NOT_FOUND', 'no certificate links to a pinned owner root')]);
    else {
      warnings.push(issue('CHAIN_OWNER_ABSENT', 'no certificate links to a pinned owner root; the manufacturer chain alone vouches for the partition key'));
      step('owner-chain', []);
    }
  } else {
    const ownerIssues: Issue[] = [];
    const ownerPart = ownerCerts.find((p) => p.certs[0]!.spkiSha256 === mfrPartition.spkiSha256);
    const ownerCard = ownerCerts.find((p) => p.certs[0]!.spkiSha256 === mfrCard.spkiSha256);
    if (!ownerPart) {
      ownerIssues.push(issue('CHAIN_PARTITION_KEY_MISMATCH', 'no owner-issued certificate carries the manufacturer partition key', mfrPartition.subject));
    } else if (!signatureOk(ownerPart.certs[0]!.cert, layout)) {
      ownerIssues.push(issue('SIG_INVALID', 'the blob signature does not verify with the owner partition key', ownerPart.certs[0]!.subject));
    }
    if (!ownerCard) ownerIssues.push(issue('CHAIN_CARD_KEY_MISMATCH', 'no owner-issued certificate carries the manufacturer card key', mfrCard.subject));
    for (const p of [ownerPart, ownerCard]) {
      if (!p) continue;
      const c = checkPath(p, input.now);
      ownerIssues.push(...c.failures);
      for (const w of c.warnings) if (!warnings.some((x) => x.message === w.message)) warnings.push(w);
      use(p);
      used.add(p.certs[0]!);
    }
    if (ownerPart) evidence.ownerPartition = ownerPart.certs[0]!.subject;
    if (ownerCard) evidence.ownerCard = ownerCard.certs[0]!.subject;
    step('owner-chain', ownerIssues);
  }

  // 9: leftovers (Google's script fails on them; a decoy must not turn a valid proof invalid)
  const leftovers = resolved.pool.filter((c) => !used.has(c));
  if (leftovers.length > 0) {
    warnings.push(issue('CHAIN_LEFTOVER_CERTS', `certificates ${leftovers.map((c) => `#${c.index}`).join(', ')} of the bundle are on no chain: ${leftovers.map((c) => c.subject).join(' | ')}`));
  }
  return finishMaterial();

  // 10-11: key material and binding (independent of the chains)
  function finishMaterial(): MarvellVerification {
    const materialIssues: Issue[] = [];
    const ekcvs = new Set(objects.map((o) => o.ekcv).filter((x) => x !== undefined));
    const kcvs = new Set(objects.map((o) => o.kcv).filter((x) => x !== undefined));
    if (ekcvs.size > 1 || kcvs.size > 1) materialIssues.push(issue('OBJECTS_DIFFER', 'the objects of the attestation carry different KCV or EKCV values'));
    const m = attestedMaterial(objects, key?.ekcv);
    if (m.spki) {
      const digest = spkiSha256(m.spki).toString('hex');
      evidence.attestedSpkiSha256 = digest;
      if (key?.ekcv !== undefined && digest !== key.ekcv) materialIssues.push(issue('KEY_MATERIAL_MISMATCH', `the attested modulus/point hashes to ${digest}, the EKCV says ${key.ekcv}`));
      if (key?.kcv !== undefined && spkiSha1Kcv(m.spki).toString('hex') !== key.kcv) materialIssues.push(issue('KEY_MATERIAL_MISMATCH', `the attested modulus/point has KCV ${spkiSha1Kcv(m.spki).toString('hex')}, the KCV attribute says ${key.kcv}`));
      if (m.curve) {
        evidence.curve = m.curve;
        evidence.size = `EC ${m.curve}`;
      } else if (m.sizeBits !== undefined) {
        evidence.sizeBits = m.sizeBits;
        evidence.size = `RSA-${m.sizeBits}`;
      }
    }
    step('key-material', materialIssues);

    if (input.expectedKey === undefined) {
      evidence.binding = 'not-requested';
      warnings.push(issue('BINDING_UNAVAILABLE', 'no expected public key was given; the attestation is not bound to a key'));
      return done(evidence);
    }
    const expected = spkiOf(input.expectedKey);
    if (!expected.ok) {
      evidence.binding = 'unavailable';
      step('binding', [expected.error]);
      return done(evidence);
    }
    if (key === undefined || key.class === 'secret' || key.ekcv === undefined) {
      evidence.binding = 'unavailable';
      const why = key?.class === 'secret' ? 'a secret-key attestation cannot be bound to a public key (compare KCVs under a policy instead)' : 'the attestation carries no EKCV (0x1003)';
      step('binding', [issue('BINDING_UNAVAILABLE', why)]);
      return done(evidence);
    }
    const want = spkiSha256(expected.value).toString('hex');
    if (want !== key.ekcv) {
      evidence.binding = 'mismatch';
      step('binding', [issue('BINDING_MISMATCH', `EKCV ${key.ekcv} is not SHA-256 of the expected key's SPKI (${want})`)]);
      return done(evidence);
    }
    evidence.binding = 'ekcv-match';
    step('binding', []);
    return done(evidence);
  }
}

export interface BundleVerification {
  verdict: 'valid' | 'invalid';
  declaredFormat: string;
  /** One verification per blob (Azure: private-key and public-key attestation). */
  blobs: { name: string; result: MarvellVerification }[];
  /** Failures that span blobs (OBJECTS_DIFFER, key id mismatch). */
  failures: Issue[];
}

/** Last two path segments of an Azure key URL: ".../keys/<name>/<version>" -> "<name>/<version>". */
function keyNameVersion(keyId: string): string | undefined {
  const parts = keyId.replace(/\/+$/, '').split('/');
  return parts.length >= 2 && parts[parts.length - 3] === 'keys' ? parts.slice(-2).join('/') : undefined;
}

/**
 * Verifies every blob of an adapted input (inputs.ts) and the cross-blob rules: all blobs attest
 * the same key (equal KCV and EKCV), and when a key id is known, each key object's ID attribute
 * (0x0102) ends with its name/version.
 */
export function verifyMarvellBundle(
  input: { blobs: { name: string; attestation: Buffer }[]; certificates: readonly string[]; expectedKey?: PublicKeyInput; requireOwnerChain: boolean; keyId?: string; declaredFormat: string },
  anchors: readonly TrustAnchor[],
  now: Date,
  limits?: Partial<MarvellLimits>,
): BundleVerification {
  const blobs = input.blobs.map((b) => ({
    name: b.name,
    result: verifyMarvell({
      attestation: b.attestation,
      certificates: input.certificates,
      anchors,
      now,
      requireOwnerChain: input.requireOwnerChain,
      ...(input.expectedKey ? { expectedKey: input.expectedKey } : {}),
      ...(limits ? { limits } : {}),
    }),
  }));
  const failures: Issue[] = [];
  const keys = blobs.map((b) => b.result.evidence?.key).filter((k) => k !== undefined);
  if (new Set(keys.map((k) => k.ekcv)).size > 1 || new Set(keys.map((k) => k.kcv)).size > 1) {
    failures.push(issue('OBJECTS_DIFFER', `the ${blobs.map((b) => b.name).join(' and ')} attest different keys (KCV/EKCV differ)`));
  }
  const suffix = input.keyId === undefined ? undefined : keyNameVersion(input.keyId);
  if (suffix !== undefined) {
    for (const k of keys) {
      if (k.id === undefined || !k.id.replace(/\/+$/, '').endsWith(`/${suffix}`)) {
        failures.push(issue('BINDING_MISMATCH', `object ${k.handle} has ID ${JSON.stringify(k.id ?? '')}, which does not name key ${suffix}`));
      }
    }
  }
  const valid = failures.length === 0 && blobs.length > 0 && blobs.every((b) => b.result.verdict === 'valid');
  return { verdict: valid ? 'valid' : 'invalid', declaredFormat: input.declaredFormat, blobs, failures };
}
