import type { JsonWebKey } from 'node:crypto';
import { z } from 'zod';
import { issue, type Issue } from '../codes.ts';
import type { PublicKeyInput } from '../spki.ts';

/**
 * Input adapters: turn what Google Cloud KMS and Azure Managed HSM return into the blob(s), the
 * certificate bundle and the expected key that verifyMarvell takes. Vendor JSON is validated
 * here, at the edge; unknown extra fields are ignored (clouds add fields), missing or mistyped
 * ones fail with DECODE_FAILED, unknown format/version values with FORMAT_UNSUPPORTED.
 *
 * @example const r = fromAzureKeyAttestation(JSON.parse(text)); if (r.ok) r.value.blobs.map(...)
 */
export interface MarvellBundleInput {
  /** One blob per attestation: Google has one; Azure a private-key and, for key pairs, a public-key blob. */
  blobs: { name: string; attestation: Buffer }[];
  certificates: string[];
  expectedKey?: PublicKeyInput;
  requireOwnerChain: boolean;
  /** The key identifier the attestation should carry in attribute 0x0102 (Azure: the key URL). */
  keyId?: string;
  declaredFormat: string;
}

export type InputResult = { ok: true; value: MarvellBundleInput } | { ok: false; error: Issue };

const decodeFailed = (message: string): InputResult => ({ ok: false, error: issue('DECODE_FAILED', message) });

/** Strict base64 / base64url (padding optional) so that stray characters fail instead of being skipped. */
export function decodeBase64(text: string, url: boolean): Buffer | undefined {
  const s = text.replace(/\s+/g, '');
  const alphabet = url ? /^[A-Za-z0-9_-]*={0,2}$/ : /^[A-Za-z0-9+/]*={0,2}$/;
  if (!alphabet.test(s) || s.replace(/=+$/, '').length % 4 === 1) return undefined;
  return Buffer.from(s, url ? 'base64url' : 'base64');
}

// google.cloud.kms.v1.KeyOperationAttestation (REST JSON: enum names, bytes as base64).
const GOOGLE_FORMATS = ['CAVIUM_V1_COMPRESSED', 'CAVIUM_V2_COMPRESSED'] as const;
const googleAttestationSchema = z.object({
  format: z.string(),
  content: z.string(),
  certChains: z
    .object({
      caviumCerts: z.array(z.string()).default([]),
      googleCardCerts: z.array(z.string()).default([]),
      googlePartitionCerts: z.array(z.string()).default([]),
    })
    .optional(),
});

function fromGoogleAttestation(doc: unknown, what: string, extraCerts: readonly string[], expectedKey?: PublicKeyInput): InputResult {
  const parsed = googleAttestationSchema.safeParse(doc);
  if (!parsed.success) return decodeFailed(`${what}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const a = parsed.data;
  // Both enum values name the same gzip'd header-driven blob as far as public sources go; the
  // strict layout parser, not the label, decides whether the content is supported.
  if (!(GOOGLE_FORMATS as readonly string[]).includes(a.format)) {
    return { ok: false, error: issue('FORMAT_UNSUPPORTED', `${what}: attestation format ${a.format} is not one of ${GOOGLE_FORMATS.join(', ')}`) };
  }
  const content = decodeBase64(a.content, false);
  if (!content || content.length === 0) return decodeFailed(`${what}: content is not base64`);
  const chains = a.certChains;
  const certificates = [...(chains?.caviumCerts ?? []), ...(chains?.googleCardCerts ?? []), ...(chains?.googlePartitionCerts ?? []), ...extraCerts];
  return {
    ok: true,
    value: {
      blobs: [{ name: 'attestation', attestation: content }],
      certificates,
      requireOwnerChain: true,
      declaredFormat: a.format,
      ...(expectedKey ? { expectedKey } : {}),
    },
  };
}

/**
 * A CryptoKeyVersion's `attestation` object (or the whole CryptoKeyVersion JSON). `publicKeyPem`
 * is what cryptoKeyVersions.getPublicKey returned; without it the result is not bound to a key.
 */
export function fromGoogleKeyAttestation(doc: unknown, publicKeyPem?: string, extraCerts: readonly string[] = []): InputResult {
  const inner = typeof doc === 'object' && doc !== null && 'attestation' in doc ? (doc as { attestation: unknown }).attestation : doc;
  return fromGoogleAttestation(inner, 'Google key attestation', extraCerts, publicKeyPem === undefined ? undefined : { pem: publicKeyPem });
}

// google.cloud.kms.v1.ImportJob: HSM import jobs attest their wrapping key, bound to publicKey.pem.
const importJobSchema = z.object({
  protectionLevel: z.string(),
  publicKey: z.object({ pem: z.string() }),
  attestation: z.unknown(),
});

/** An ImportJob JSON: verifies that the job's wrapping key lives in the HSM, bound to `publicKey.pem`. */
export function fromGoogleImportJob(doc: unknown, extraCerts: readonly string[] = []): InputResult {
  const parsed = importJobSchema.safeParse(doc);
  if (!parsed.success) return decodeFailed(`Google import job: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  if (parsed.data.protectionLevel !== 'HSM') {
    return { ok: false, error: issue('FORMAT_UNSUPPORTED', `import job protection level ${parsed.data.protectionLevel} has no HSM attestation`) };
  }
  return fromGoogleAttestation(parsed.data.attestation, 'Google import job attestation', extraCerts, { pem: parsed.data.publicKey.pem });
}

// Azure Key Vault KeyBundle with attributes.attestation (api-version 7.6-preview.2 and later).
const azureSchema = z.object({
  key: z.record(z.string(), z.unknown()),
  attributes: z.object({
    attestation: z.object({
      version: z.string(),
      certificatePemFile: z.string(),
      privateKeyAttestation: z.string(),
      publicKeyAttestation: z.string().optional(),
    }),
  }),
});

/** Azure JWK key types carry an "-HSM" suffix that node's JWK import does not know. */
function azureJwkToPublic(key: Record<string, unknown>): PublicKeyInput | undefined {
  const kty = typeof key['kty'] === 'string' ? key['kty'].replace(/-HSM$/, '') : undefined;
  if (kty === 'RSA' && typeof key['n'] === 'string' && typeof key['e'] === 'string') {
    return { jwk: { kty, n: key['n'], e: key['e'] } as JsonWebKey };
  }
  if (kty === 'EC' && typeof key['crv'] === 'string' && typeof key['x'] === 'string' && typeof key['y'] === 'string') {
    return { jwk: { kty, crv: key['crv'] === 'P-256K' ? 'secp256k1' : key['crv'], x: key['x'], y: key['y'] } as JsonWebKey };
  }
  return undefined;
}

/**
 * An Azure Managed HSM `get-attestation` key bundle (`az keyvault key get-attestation`). The
 * Microsoft partition chain starts at a self-signed certificate in the bundle that nothing pins,
 * so the owner chain is not required; the Marvell chain is.
 */
export function fromAzureKeyAttestation(doc: unknown): InputResult {
  const parsed = azureSchema.safeParse(doc);
  if (!parsed.success) return decodeFailed(`Azure key attestation: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const { key, attributes } = parsed.data;
  const att = attributes.attestation;
  if (att.version !== 'MRVL-1') return { ok: false, error: issue('FORMAT_UNSUPPORTED', `Azure attestation version ${att.version} is not MRVL-1`) };
  const pem = decodeBase64(att.certificatePemFile, true);
  if (!pem) return decodeFailed('Azure certificatePemFile is not base64url');
  const blobs: { name: string; attestation: Buffer }[] = [];
  for (const [name, text] of [
    ['privateKeyAttestation', att.privateKeyAttestation],
    ['publicKeyAttestation', att.publicKeyAttestation],
  ] as const) {
    if (text === undefined) continue;
    const b = decodeBase64(text, true);
    if (!b || b.length === 0) return decodeFailed(`Azure ${name} is not base64url`);
    blobs.push({ name, attestation: b });
  }
  const expectedKey = azureJwkToPublic(key);
  const kid = typeof key['kid'] === 'string' ? key['kid'] : undefined;
  return {
    ok: true,
    value: {
      blobs,
      certificates: [pem.toString('utf8')],
      requireOwnerChain: false,
      declaredFormat: att.version,
      ...(expectedKey ? { expectedKey } : {}),
      ...(kid ? { keyId: kid } : {}),
    },
  };
}
