import { constants, createDecipheriv, createPublicKey, privateDecrypt, createPrivateKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { issue, type Issue } from '../codes.ts';
import { decodeBase64 } from '../marvell/inputs.ts';
import { mapProviderError } from './provider-errors.ts';
import {
  AWS_TOKEN_VALIDITY_MS,
  AWS_UNSUPPORTED_WRAPPING,
  AWS_WRAPPING_ALGORITHMS,
  AWS_WRAPPING_KEY_SPECS,
  AZURE_BYOK_HEADER,
  AZURE_BYOK_SCHEME,
  AZURE_KEK_BITS,
  GCP_IMPORT_METHODS,
  GCP_JOB_VALIDITY_MS,
  awsTargetKey,
  azureTargetKey,
  gcpTargetKey,
  kwpLength,
  materialBytes,
  oaepCapacity,
  type OaepHash,
  type TargetKey,
  type WrappingScheme,
} from './specs.ts';

/**
 * Offline checks of BYOK import material before (or after) it is sent to a provider: that the
 * wrapping algorithm can carry the target key, that the wrapped blob has the length the algorithm,
 * the wrapping key and the target key imply, that the OAEP hash is the one the algorithm names,
 * and that the import token (AWS) or import job (GCP) has not expired. A provider error name can
 * be given and is mapped to a finding. With the wrapping PRIVATE key of a rehearsal (your own
 * stand-in key pair, never the provider's), the blob is also unwrapped and the material checked.
 * Nothing here prints or returns key material.
 *
 * @example checkImport({ provider: 'aws', now, params: JSON.parse(paramsJson), wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256', target: 'RSA_2048', wrapped })
 */
export interface ImportCheckInput {
  provider: 'aws' | 'gcp' | 'azure';
  now: Date;
  /** AWS: `aws kms get-parameters-for-import` JSON. GCP: `gcloud kms import-jobs describe --format=json`. */
  params?: unknown;
  /** AWS only: the WrappingAlgorithm asked for (the response does not repeat it). */
  wrappingAlgorithm?: string;
  /** AWS only: the WrappingKeySpec asked for; checked against the public key's size. */
  wrappingKeySpec?: string;
  /** Azure: the parsed .byok file. */
  byok?: unknown;
  /** Azure: the KEK, as `az keyvault key show` JSON or a PEM public key (`az keyvault key download`). */
  kek?: { pem: string } | { json: unknown };
  /** AWS/GCP: the wrapped key material as sent to ImportKeyMaterial / cryptoKeyVersions.import. */
  wrapped?: Buffer;
  /** AWS KeySpec, GCP algorithm, or Azure `RSA:2048` / `EC:P-256` / `oct:256`. */
  target?: string;
  /** The OAEP hash the wrapping tool used, when known (e.g. `openssl pkeyutl -pkeyopt rsa_oaep_md:sha1`). */
  oaepHash?: OaepHash;
  /** The error name or message the provider returned for this import, if any. */
  providerError?: string;
  /** Rehearsal only: the private half of a stand-in wrapping key pair (PEM). */
  rehearsalPrivateKey?: string;
}

export interface ImportCheckEvidence {
  provider: ImportCheckInput['provider'];
  /** AWS: the KMS key receiving the material; GCP: the import job. */
  keyId?: string;
  /** Azure: the KEK the .byok file names (the target key's name is not in the file). */
  kekId?: string;
  wrappingAlgorithm?: string;
  scheme?: WrappingScheme['scheme'];
  oaepHash?: OaepHash;
  wrappingKeyBits?: number;
  target?: string;
  expiresAt?: string;
  wrappedBytes?: number;
  expectedWrappedBytes?: { min: number; max: number };
  rehearsal?: { unwrapped: boolean; oaepHash?: OaepHash; materialBytes?: number };
}

export interface ImportCheckResult {
  verdict: 'valid' | 'invalid';
  failures: Issue[];
  warnings: Issue[];
  evidence: ImportCheckEvidence;
}

const awsParamsSchema = z.object({
  KeyId: z.string().optional(),
  ImportToken: z.string().min(1),
  PublicKey: z.string().min(1),
  // AWS CLI v2 prints ISO 8601; with cli_timestamp_format=none (and the SDKs' raw JSON) epoch seconds.
  ParametersValidTo: z.union([z.string(), z.number()]),
});

const gcpJobSchema = z.object({
  name: z.string().optional(),
  importMethod: z.string(),
  state: z.string().optional(),
  createTime: z.string().optional(),
  expireTime: z.string().optional(),
  publicKey: z.object({ pem: z.string() }).optional(),
});

// https://learn.microsoft.com/azure/key-vault/keys/byok-specification ("Key transfer blob")
const byokSchema = z.object({
  schema_version: z.string(),
  header: z.object({ kid: z.string().min(1), alg: z.string(), enc: z.string() }),
  ciphertext: z.string().min(1),
  generator: z.string().optional(),
});

const kekJsonSchema = z.object({ key: z.object({ kid: z.string().optional(), kty: z.string(), n: z.string(), e: z.string() }).passthrough() });

const zodMessage = (e: z.ZodError): string => e.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');

function rsaBitsOf(key: KeyObject): number | undefined {
  return key.asymmetricKeyType === 'rsa' ? key.asymmetricKeyDetails?.modulusLength : undefined;
}

function publicKeyFrom(input: { pem: string } | { der: Buffer }): KeyObject | undefined {
  try {
    return 'pem' in input ? createPublicKey(input.pem) : createPublicKey({ key: input.der, format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

function parseTime(v: string | number): Date | undefined {
  const t = typeof v === 'number' ? v * 1000 : Date.parse(v);
  return Number.isFinite(t) ? new Date(t) : undefined;
}

interface Context {
  failures: Issue[];
  warnings: Issue[];
  evidence: ImportCheckEvidence;
}

/** The length rules shared by all three providers, once the scheme, key size and target are known. */
function checkLengths(ctx: Context, scheme: WrappingScheme, rsaBits: number, target: TargetKey | undefined, wrapped: Buffer | undefined, what: string): void {
  const k = Math.ceil(rsaBits / 8);
  const material = target ? materialBytes(target) : undefined;
  if (target && scheme.scheme === 'rsa-oaep') {
    if (target.kind === 'rsa') {
      ctx.failures.push(issue('IMPORT_ALGORITHM_KEY_MISMATCH', `${what} wraps with plain RSA-OAEP, which cannot carry an RSA private key (${target.name}); use an RSA-AES key wrap algorithm`));
    } else if (material && material.max > oaepCapacity(rsaBits, scheme.hash)) {
      // This is the rule behind AWS's "ECC_NIST_P521 + RSA_2048 + RSAES_OAEP_SHA_* is not supported"
      // (https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-encrypt-key-material.html).
      ctx.failures.push(issue('IMPORT_ALGORITHM_KEY_MISMATCH', `${target.name} key material (up to ${material.max} bytes) can exceed what RSA-OAEP/${scheme.hash} carries under a ${rsaBits}-bit key (${oaepCapacity(rsaBits, scheme.hash)} bytes); use a larger wrapping key or an RSA-AES key wrap algorithm`));
    }
  }
  let expected: { min: number; max: number } | undefined;
  if (scheme.scheme === 'rsa-oaep') expected = { min: k, max: k };
  else if (material) expected = { min: k + kwpLength(material.min), max: k + kwpLength(material.max) };
  if (expected) ctx.evidence.expectedWrappedBytes = expected;
  if (!wrapped) {
    ctx.warnings.push(issue('IMPORT_CHECK_LIMITED', 'no wrapped key material was given; its length was not checked'));
    return;
  }
  ctx.evidence.wrappedBytes = wrapped.length;
  if (scheme.scheme === 'rsa-aes-kwp') {
    const rest = wrapped.length - k;
    // AES-KWP output is a multiple of 8 bytes and at least 16 (RFC 5649).
    if (rest < 16 || rest % 8 !== 0) {
      ctx.failures.push(issue('IMPORT_BLOB_LENGTH_MISMATCH', `${wrapped.length} bytes is not a ${k}-byte RSA-OAEP block followed by an AES-KWP block (a multiple of 8, at least 16 bytes)`));
      return;
    }
    if (!expected) ctx.warnings.push(issue('IMPORT_CHECK_LIMITED', `no published key material length for ${target?.name ?? 'an unspecified target'}; only the framing of the blob was checked`));
  }
  if (expected && (wrapped.length < expected.min || wrapped.length > expected.max)) {
    const want = expected.min === expected.max ? `${expected.min}` : `${expected.min}-${expected.max}`;
    ctx.failures.push(issue('IMPORT_BLOB_LENGTH_MISMATCH', `the wrapped blob is ${wrapped.length} bytes; ${what} with a ${rsaBits}-bit wrapping key${target ? ` and ${target.name} material` : ''} gives ${want}`));
  }
}

function checkDeclaredHash(ctx: Context, scheme: WrappingScheme, declared: OaepHash | undefined, what: string): void {
  if (declared !== undefined && declared !== scheme.hash) {
    ctx.failures.push(issue('IMPORT_OAEP_HASH_MISMATCH', `the material was wrapped with OAEP/${declared}, but ${what} requires OAEP/${scheme.hash} (MGF1 with the same hash)`));
  }
}

const OTHER_HASH: Record<OaepHash, OaepHash> = { sha1: 'sha256', sha256: 'sha1' };

function oaepDecrypt(key: KeyObject, hash: OaepHash, data: Buffer): Buffer | undefined {
  try {
    return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, data);
  } catch {
    return undefined;
  }
}

function kwpUnwrap(aesKey: Buffer, data: Buffer): Buffer | undefined {
  const cipher = ({ 16: 'id-aes128-wrap-pad', 24: 'id-aes192-wrap-pad', 32: 'id-aes256-wrap-pad' } as Record<number, string>)[aesKey.length];
  if (!cipher) return undefined;
  try {
    // RFC 5649 alternative initial value A65959A6; node wants it as the IV.
    const d = createDecipheriv(cipher, aesKey, Buffer.from('a65959a6', 'hex'));
    return Buffer.concat([d.update(data), d.final()]);
  } catch {
    return undefined;
  }
}

/** Is `material` a key of the target spec? Symmetric: its length; private keys: a PKCS#8 of that type and size. */
function materialFits(material: Buffer, target: TargetKey): boolean {
  if (target.kind === 'symmetric') return material.length === target.bytes;
  if (target.kind === 'hmac') return material.length > 0;
  try {
    const key = createPrivateKey({ key: material, format: 'der', type: 'pkcs8' });
    if (target.kind === 'rsa') return key.asymmetricKeyType === 'rsa' && key.asymmetricKeyDetails?.modulusLength === target.bits;
    const curve = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1', secp256k1: 'secp256k1' }[target.curve];
    return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === curve;
  } catch {
    return false;
  }
}

/** Rehearsal: unwraps with the stand-in private key, telling a wrong OAEP hash from a wrong key. */
function rehearse(ctx: Context, scheme: WrappingScheme, pem: string, wrapped: Buffer, target: TargetKey | undefined): void {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    ctx.failures.push(issue('IMPORT_UNWRAP_FAILED', 'the rehearsal private key is not a readable private key'));
    return;
  }
  const bits = rsaBitsOf(key);
  const k = bits === undefined ? 0 : Math.ceil(bits / 8);
  if (k === 0 || wrapped.length < k) {
    ctx.failures.push(issue('IMPORT_UNWRAP_FAILED', 'the rehearsal key is not an RSA key, or the blob is shorter than its modulus'));
    return;
  }
  const head = wrapped.subarray(0, k);
  let hash: OaepHash = scheme.hash;
  let first = oaepDecrypt(key, hash, head);
  if (!first) {
    first = oaepDecrypt(key, OTHER_HASH[hash], head);
    if (first) {
      hash = OTHER_HASH[hash];
      ctx.failures.push(issue('IMPORT_OAEP_HASH_MISMATCH', `the RSA block decrypts with OAEP/${hash}, not with the OAEP/${scheme.hash} the algorithm requires`));
    }
  }
  if (!first) {
    ctx.evidence.rehearsal = { unwrapped: false };
    ctx.failures.push(issue('IMPORT_UNWRAP_FAILED', 'the RSA block does not decrypt with the rehearsal key under OAEP/SHA-1 or OAEP/SHA-256 (another wrapping key, or not OAEP)'));
    return;
  }
  let material: Buffer | undefined = first;
  if (scheme.scheme === 'rsa-aes-kwp') {
    material = kwpUnwrap(first, wrapped.subarray(k));
    first.fill(0);
    if (!material) {
      ctx.evidence.rehearsal = { unwrapped: false, oaepHash: hash };
      ctx.failures.push(issue('IMPORT_UNWRAP_FAILED', 'the AES-KWP block does not unwrap with the AES key from the RSA block (integrity check failed, or the key is not 128/192/256 bits)'));
      return;
    }
  }
  ctx.evidence.rehearsal = { unwrapped: true, oaepHash: hash, materialBytes: material.length };
  if (target && !materialFits(material, target)) {
    ctx.failures.push(issue('IMPORT_MATERIAL_MISMATCH', `the unwrapped material (${material.length} bytes) is not ${target.kind === 'symmetric' ? `a ${target.bytes}-byte key` : `a PKCS#8 ${target.name} private key`}`));
  }
  material.fill(0);
}

function targetFor(ctx: Context, provider: ImportCheckInput['provider'], spec: string | undefined): TargetKey | undefined {
  if (spec === undefined) {
    ctx.warnings.push(issue('IMPORT_CHECK_LIMITED', 'no target key spec was given; the fit of algorithm and material was not checked'));
    return undefined;
  }
  ctx.evidence.target = spec;
  const t = provider === 'aws' ? awsTargetKey(spec) : provider === 'gcp' ? gcpTargetKey(spec) : azureTargetKey(spec);
  if (!t) ctx.failures.push(issue('IMPORT_TARGET_UNSUPPORTED', `${spec} is not a ${provider === 'aws' ? 'KMS KeySpec' : provider === 'gcp' ? 'Cloud KMS algorithm' : 'Key Vault target (RSA:2048|3072|4096, EC:P-256|P-384|P-521|P-256K, oct:128|192|256)'} that can be imported`));
  return t;
}

function checkAws(ctx: Context, input: ImportCheckInput): void {
  const parsed = awsParamsSchema.safeParse(input.params);
  if (!parsed.success) {
    ctx.failures.push(issue('DECODE_FAILED', `AWS GetParametersForImport output: ${zodMessage(parsed.error)}`));
    return;
  }
  const p = parsed.data;
  if (p.KeyId) ctx.evidence.keyId = p.KeyId;
  const validTo = parseTime(p.ParametersValidTo);
  if (!validTo) ctx.failures.push(issue('DECODE_FAILED', `ParametersValidTo ${String(p.ParametersValidTo)} is not a time`));
  else {
    ctx.evidence.expiresAt = validTo.toISOString();
    if (validTo.getTime() <= input.now.getTime()) ctx.failures.push(issue('IMPORT_TOKEN_EXPIRED', `the import token and wrapping key expired at ${validTo.toISOString()} (they last ${AWS_TOKEN_VALIDITY_MS / 3_600_000} h); call GetParametersForImport again and re-wrap`));
  }
  const der = decodeBase64(p.PublicKey, false);
  const pub = der ? publicKeyFrom({ der }) : undefined;
  const bits = pub ? rsaBitsOf(pub) : undefined;
  if (bits === undefined) ctx.failures.push(issue('DECODE_FAILED', 'PublicKey is not a base64 DER RSA SubjectPublicKeyInfo'));
  else ctx.evidence.wrappingKeyBits = bits;
  if (input.wrappingKeySpec !== undefined) {
    const specBits = AWS_WRAPPING_KEY_SPECS[input.wrappingKeySpec];
    if (specBits === undefined) ctx.failures.push(issue('IMPORT_ALGORITHM_UNSUPPORTED', `WrappingKeySpec ${input.wrappingKeySpec} is not one of ${Object.keys(AWS_WRAPPING_KEY_SPECS).join(', ')}`));
    else if (bits !== undefined && bits !== specBits) ctx.failures.push(issue('IMPORT_WRAPPING_KEY_MISMATCH', `the wrapping public key has ${bits} bits, not the ${specBits} of ${input.wrappingKeySpec}`));
  } else if (bits !== undefined && !Object.values(AWS_WRAPPING_KEY_SPECS).includes(bits)) {
    ctx.failures.push(issue('IMPORT_WRAPPING_KEY_MISMATCH', `the wrapping public key has ${bits} bits; AWS KMS issues RSA_2048, RSA_3072 or RSA_4096`));
  }
  const target = targetFor(ctx, 'aws', input.target);
  const alg = input.wrappingAlgorithm;
  if (alg === undefined) {
    ctx.warnings.push(issue('IMPORT_CHECK_LIMITED', 'no --wrapping-algorithm given (GetParametersForImport does not echo it); the blob was not checked against it'));
    return;
  }
  ctx.evidence.wrappingAlgorithm = alg;
  const scheme = AWS_WRAPPING_ALGORITHMS[alg];
  if (!scheme) {
    ctx.failures.push(issue('IMPORT_ALGORITHM_UNSUPPORTED', AWS_UNSUPPORTED_WRAPPING[alg] ?? `${alg} is not one of ${Object.keys(AWS_WRAPPING_ALGORITHMS).join(', ')}`));
    return;
  }
  ctx.evidence.scheme = scheme.scheme;
  ctx.evidence.oaepHash = scheme.hash;
  checkDeclaredHash(ctx, scheme, input.oaepHash, alg);
  if (bits !== undefined) checkLengths(ctx, scheme, bits, target, input.wrapped, alg);
  if (input.rehearsalPrivateKey && input.wrapped) rehearse(ctx, scheme, input.rehearsalPrivateKey, input.wrapped, target);
}

function checkGcp(ctx: Context, input: ImportCheckInput): void {
  const parsed = gcpJobSchema.safeParse(input.params);
  if (!parsed.success) {
    ctx.failures.push(issue('DECODE_FAILED', `GCP import job: ${zodMessage(parsed.error)}`));
    return;
  }
  const job = parsed.data;
  if (job.name) ctx.evidence.keyId = job.name;
  ctx.evidence.wrappingAlgorithm = job.importMethod;
  // expireTime is set once the job is generated; before that, createTime + 3 days bounds it.
  const created = job.createTime ? parseTime(job.createTime) : undefined;
  const expires = job.expireTime ? parseTime(job.expireTime) : created ? new Date(created.getTime() + GCP_JOB_VALIDITY_MS) : undefined;
  if (expires) ctx.evidence.expiresAt = expires.toISOString();
  if (job.state === 'EXPIRED') ctx.failures.push(issue('IMPORT_TOKEN_EXPIRED', `import job${job.name ? ` ${job.name}` : ''} is in state EXPIRED; create a new import job and re-wrap`));
  else if (expires && expires.getTime() <= input.now.getTime()) ctx.failures.push(issue('IMPORT_TOKEN_EXPIRED', `the import job expired at ${expires.toISOString()} (jobs last 3 days); create a new one and re-wrap`));
  else if (!expires) ctx.warnings.push(issue('IMPORT_CHECK_LIMITED', 'the import job has neither expireTime nor createTime; its expiry was not checked'));
  const target = targetFor(ctx, 'gcp', input.target);
  const scheme = GCP_IMPORT_METHODS[job.importMethod];
  if (!scheme) {
    ctx.failures.push(issue('IMPORT_ALGORITHM_UNSUPPORTED', `import method ${job.importMethod} is not one of ${Object.keys(GCP_IMPORT_METHODS).join(', ')}`));
    return;
  }
  ctx.evidence.scheme = scheme.scheme;
  ctx.evidence.oaepHash = scheme.hash;
  let bits = scheme.rsaBits!;
  if (job.publicKey) {
    const pub = publicKeyFrom({ pem: job.publicKey.pem });
    const got = pub ? rsaBitsOf(pub) : undefined;
    if (got === undefined) ctx.failures.push(issue('DECODE_FAILED', 'publicKey.pem is not an RSA public key'));
    else if (got !== bits) ctx.failures.push(issue('IMPORT_WRAPPING_KEY_MISMATCH', `the job's public key has ${got} bits, but ${job.importMethod} means ${bits}`));
    if (got !== undefined) bits = got;
  } else if (job.state === 'PENDING_GENERATION') {
    ctx.warnings.push(issue('IMPORT_CHECK_LIMITED', 'the import job is still PENDING_GENERATION and has no public key yet'));
  }
  ctx.evidence.wrappingKeyBits = bits;
  checkDeclaredHash(ctx, scheme, input.oaepHash, job.importMethod);
  checkLengths(ctx, scheme, bits, target, input.wrapped, job.importMethod);
  if (input.rehearsalPrivateKey && input.wrapped) rehearse(ctx, scheme, input.rehearsalPrivateKey, input.wrapped, target);
}

function checkAzure(ctx: Context, input: ImportCheckInput): void {
  const parsed = byokSchema.safeParse(input.byok);
  if (!parsed.success) {
    ctx.failures.push(issue('IMPORT_BYOK_HEADER_INVALID', `.byok file: ${zodMessage(parsed.error)}`));
    return;
  }
  const byok = parsed.data;
  ctx.evidence.kekId = byok.header.kid;
  ctx.evidence.wrappingAlgorithm = byok.header.enc;
  const headerIssues: string[] = [];
  if (byok.header.alg !== AZURE_BYOK_HEADER.alg) headerIssues.push(`header.alg is "${byok.header.alg}", not "dir"`);
  if (byok.header.enc !== AZURE_BYOK_HEADER.enc) headerIssues.push(`header.enc is "${byok.header.enc}", not "CKM_RSA_AES_KEY_WRAP"`);
  const wrapped = decodeBase64(byok.ciphertext, true);
  if (!wrapped || wrapped.length === 0) headerIssues.push('ciphertext is not base64url');
  if (headerIssues.length > 0) ctx.failures.push(issue('IMPORT_BYOK_HEADER_INVALID', headerIssues.join('; ')));
  const target = targetFor(ctx, 'azure', input.target);
  let bits: number | undefined;
  if (input.kek) {
    let pub: KeyObject | undefined;
    if ('pem' in input.kek) pub = publicKeyFrom({ pem: input.kek.pem });
    else {
      const k = kekJsonSchema.safeParse(input.kek.json);
      if (!k.success) ctx.failures.push(issue('DECODE_FAILED', `KEK JSON: ${zodMessage(k.error)}`));
      else {
        if (k.data.key.kty !== 'RSA-HSM' && k.data.key.kty !== 'RSA') ctx.failures.push(issue('IMPORT_WRAPPING_KEY_MISMATCH', `the KEK is ${k.data.key.kty}; BYOK needs an RSA-HSM key`));
        if (k.data.key.kid !== undefined && k.data.key.kid !== byok.header.kid) ctx.failures.push(issue('IMPORT_KEK_MISMATCH', `the .byok file names KEK ${byok.header.kid}, the KEK given is ${k.data.key.kid}`));
        try {
          pub = createPublicKey({ key: { kty: 'RSA', n: k.data.key.n, e: k.data.key.e }, format: 'jwk' });
        } catch {
          pub = undefined;
        }
      }
    }
    bits = pub ? rsaBitsOf(pub) : undefined;
    if (bits === undefined) ctx.failures.push(issue('DECODE_FAILED', 'the KEK is not a readable RSA public key'));
    else if (!(AZURE_KEK_BITS as readonly number[]).includes(bits)) ctx.failures.push(issue('IMPORT_WRAPPING_KEY_MISMATCH', `the KEK has ${bits} bits; BYOK KEKs are RSA-HSM 2048, 3072 or 4096`));
    if (bits !== undefined) ctx.evidence.wrappingKeyBits = bits;
  } else {
    ctx.warnings.push(issue('IMPORT_CHECK_LIMITED', 'no KEK was given; the ciphertext length was checked against every allowed KEK size'));
  }
  ctx.evidence.scheme = AZURE_BYOK_SCHEME.scheme;
  ctx.evidence.oaepHash = AZURE_BYOK_SCHEME.hash;
  checkDeclaredHash(ctx, AZURE_BYOK_SCHEME, input.oaepHash, 'the BYOK specification');
  if (!wrapped || headerIssues.length > 0) return;
  if (bits !== undefined) checkLengths(ctx, AZURE_BYOK_SCHEME, bits, target, wrapped, 'CKM_RSA_AES_KEY_WRAP');
  else {
    // Without the KEK, the blob must fit at least one allowed KEK size.
    const fits = AZURE_KEK_BITS.some((b) => {
      const trial: Context = { failures: [], warnings: [], evidence: { provider: 'azure' } };
      checkLengths(trial, AZURE_BYOK_SCHEME, b, target, wrapped, 'CKM_RSA_AES_KEY_WRAP');
      return trial.failures.length === 0;
    });
    ctx.evidence.wrappedBytes = wrapped.length;
    if (!fits) ctx.failures.push(issue('IMPORT_BLOB_LENGTH_MISMATCH', `the ${wrapped.length}-byte ciphertext fits no 2048/3072/4096-bit KEK${target ? ` with ${target.name} material` : ''}`));
  }
  if (input.rehearsalPrivateKey) rehearse(ctx, AZURE_BYOK_SCHEME, input.rehearsalPrivateKey, wrapped, target);
}

export function checkImport(input: ImportCheckInput): ImportCheckResult {
  const ctx: Context = { failures: [], warnings: [], evidence: { provider: input.provider } };
  if (input.provider === 'aws') checkAws(ctx, input);
  else if (input.provider === 'gcp') checkGcp(ctx, input);
  else checkAzure(ctx, input);
  if (input.providerError !== undefined) {
    const mapped = mapProviderError(input.provider, input.providerError);
    if (!ctx.failures.some((f) => f.code === mapped.code && mapped.code === 'IMPORT_TOKEN_EXPIRED')) ctx.failures.push(mapped);
  }
  return { verdict: ctx.failures.length === 0 ? 'valid' : 'invalid', failures: ctx.failures, warnings: ctx.warnings, evidence: ctx.evidence };
}
