/**
 * Vendor facts the import-format checks rely on, as data. Each table names the page it was taken
 * from; where a page does not state a number, the comment says where it comes from instead.
 *
 * @example AWS_WRAPPING_ALGORITHMS.RSA_AES_KEY_WRAP_SHA_256 // { scheme: 'rsa-aes-kwp', hash: 'sha256' }
 */
export type OaepHash = 'sha1' | 'sha256';

export interface WrappingScheme {
  /** rsa-oaep: the key material is RSA-OAEP encrypted directly. rsa-aes-kwp: CKM_RSA_AES_KEY_WRAP. */
  scheme: 'rsa-oaep' | 'rsa-aes-kwp';
  /** OAEP hash, used for MGF1 as well (empty label). */
  hash: OaepHash;
  /** Fixed wrapping key size, when the algorithm name carries it (GCP). */
  rsaBits?: number;
}

/**
 * AWS KMS GetParametersForImport WrappingAlgorithm values. RSAES_PKCS1_V1_5 is no longer accepted
 * (since 2023-10-10) and SM2PKE is China Regions only; both are listed in AWS_UNSUPPORTED_WRAPPING.
 * https://docs.aws.amazon.com/kms/latest/APIReference/API_GetParametersForImport.html and
 * https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-get-public-key-and-token.html
 */
export const AWS_WRAPPING_ALGORITHMS: Record<string, WrappingScheme> = {
  RSAES_OAEP_SHA_1: { scheme: 'rsa-oaep', hash: 'sha1' },
  RSAES_OAEP_SHA_256: { scheme: 'rsa-oaep', hash: 'sha256' },
  RSA_AES_KEY_WRAP_SHA_1: { scheme: 'rsa-aes-kwp', hash: 'sha1' },
  RSA_AES_KEY_WRAP_SHA_256: { scheme: 'rsa-aes-kwp', hash: 'sha256' },
};

export const AWS_UNSUPPORTED_WRAPPING: Record<string, string> = {
  RSAES_PKCS1_V1_5: 'AWS KMS stopped accepting RSAES_PKCS1_V1_5 on 2023-10-10',
  SM2PKE: 'SM2PKE wraps with an SM2 wrapping key (China Regions only); keywatch checks RSA wrapping only',
};

/** WrappingKeySpec values (SM2 is China Regions only and not checked). Same pages as above. */
export const AWS_WRAPPING_KEY_SPECS: Record<string, number> = { RSA_2048: 2048, RSA_3072: 3072, RSA_4096: 4096 };

/** An import token and its wrapping public key are valid for 24 hours (importing-keys-get-public-key-and-token). */
export const AWS_TOKEN_VALIDITY_MS = 24 * 3_600_000;

/**
 * GCP Cloud KMS ImportJob.ImportMethod. The *_AES_256 methods are CKM_RSA_AES_KEY_WRAP (an
 * ephemeral AES-256 key under RSAES-OAEP with MGF1 of the same hash and an empty label, then the
 * key under AES-KWP, RFC 5649); RSA_OAEP_*_SHA256 wraps the key directly and "cannot be used to
 * wrap RSA keys for import".
 * https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.importJobs
 * https://cloud.google.com/kms/docs/key-wrapping
 */
export const GCP_IMPORT_METHODS: Record<string, WrappingScheme> = {
  RSA_OAEP_3072_SHA1_AES_256: { scheme: 'rsa-aes-kwp', hash: 'sha1', rsaBits: 3072 },
  RSA_OAEP_4096_SHA1_AES_256: { scheme: 'rsa-aes-kwp', hash: 'sha1', rsaBits: 4096 },
  RSA_OAEP_3072_SHA256_AES_256: { scheme: 'rsa-aes-kwp', hash: 'sha256', rsaBits: 3072 },
  RSA_OAEP_4096_SHA256_AES_256: { scheme: 'rsa-aes-kwp', hash: 'sha256', rsaBits: 4096 },
  RSA_OAEP_3072_SHA256: { scheme: 'rsa-oaep', hash: 'sha256', rsaBits: 3072 },
  RSA_OAEP_4096_SHA256: { scheme: 'rsa-oaep', hash: 'sha256', rsaBits: 4096 },
};

/** "An ImportJob expires 3 days after it is created" (ImportJob resource page above). */
export const GCP_JOB_VALIDITY_MS = 3 * 86_400_000;

/**
 * Azure Key Vault BYOK: the KEK is an RSA-HSM key of 2048, 3072 or 4096 bits with key_ops
 * ["import"]; the .byok ciphertext is CKM_RSA_AES_KEY_WRAP with RSA-OAEP/SHA-1 for the ephemeral
 * AES key and AES key wrap with padding for the target key; target keys are RSA, EC, or AES
 * (Managed HSM only). https://learn.microsoft.com/azure/key-vault/keys/byok-specification
 */
export const AZURE_KEK_BITS = [2048, 3072, 4096] as const;
export const AZURE_BYOK_SCHEME: WrappingScheme = { scheme: 'rsa-aes-kwp', hash: 'sha1' };
export const AZURE_BYOK_HEADER = { alg: 'dir', enc: 'CKM_RSA_AES_KEY_WRAP' } as const;

/** The key that is being imported, as far as its size goes. */
export type TargetKey =
  | { kind: 'symmetric'; bytes: number; name: string }
  | { kind: 'hmac'; name: string }
  | { kind: 'rsa'; bits: number; name: string }
  | { kind: 'ec'; curve: 'P-256' | 'P-384' | 'P-521' | 'secp256k1'; name: string };

/**
 * Plausible length in bytes of the formatted key material: raw bytes for symmetric keys, PKCS#8
 * DER (RFC 5208) for private keys, as AWS, GCP and Azure all require. PKCS#8 lengths are not
 * published; these ranges were measured on node:crypto/OpenSSL output (RSA: 4.5 x modulus bytes
 * plus 65-72 header bytes; EC: with and without the optional public key, RFC 5915) with a margin.
 * HMAC key lengths are not checked (no vendor page consulted states them).
 */
export function materialBytes(t: TargetKey): { min: number; max: number } | undefined {
  switch (t.kind) {
    case 'symmetric':
      return { min: t.bytes, max: t.bytes };
    case 'hmac':
      return undefined;
    case 'rsa': {
      const k = Math.ceil(t.bits / 8);
      return { min: Math.floor(4.5 * k) + 40, max: Math.floor(4.5 * k) + 80 };
    }
    case 'ec':
      return { 'P-256': { min: 64, max: 140 }, secp256k1: { min: 64, max: 137 }, 'P-384': { min: 80, max: 190 }, 'P-521': { min: 96, max: 245 } }[t.curve];
  }
}

const EC_NAMES: Record<string, 'P-256' | 'P-384' | 'P-521' | 'secp256k1'> = { P256: 'P-256', P384: 'P-384', P521: 'P-521', SECP256K1: 'secp256k1', 'P-256': 'P-256', 'P-384': 'P-384', 'P-521': 'P-521', 'P-256K': 'secp256k1' };

/**
 * AWS KMS KeySpec of the KMS key receiving the material (CreateKey KeySpec).
 * SYMMETRIC_DEFAULT key material is a 256-bit key (importing-keys-conceptual, "Requirements for imported key material").
 */
export function awsTargetKey(spec: string): TargetKey | undefined {
  if (spec === 'SYMMETRIC_DEFAULT') return { kind: 'symmetric', bytes: 32, name: spec };
  if (/^HMAC_(224|256|384|512)$/.test(spec)) return { kind: 'hmac', name: spec };
  const rsa = /^RSA_(2048|3072|4096)$/.exec(spec);
  if (rsa) return { kind: 'rsa', bits: Number(rsa[1]), name: spec };
  if (spec === 'ECC_SECG_P256K1') return { kind: 'ec', curve: 'secp256k1', name: spec };
  const ec = /^ECC_NIST_(P256|P384|P521)$/.exec(spec);
  if (ec) return { kind: 'ec', curve: EC_NAMES[ec[1]!]!, name: spec };
  return undefined;
}

/** GCP CryptoKeyVersionAlgorithm of the version being imported. */
export function gcpTargetKey(algorithm: string): TargetKey | undefined {
  if (algorithm === 'GOOGLE_SYMMETRIC_ENCRYPTION') return { kind: 'symmetric', bytes: 32, name: algorithm };
  const aes = /^AES_(128|256)_(GCM|CBC|CTR)$/.exec(algorithm);
  if (aes) return { kind: 'symmetric', bytes: Number(aes[1]) / 8, name: algorithm };
  if (/^HMAC_SHA(1|224|256|384|512)$/.test(algorithm)) return { kind: 'hmac', name: algorithm };
  const rsa = /^RSA_(?:SIGN|DECRYPT)_\w*?(2048|3072|4096)/.exec(algorithm);
  if (rsa) return { kind: 'rsa', bits: Number(rsa[1]), name: algorithm };
  const ec = /^EC_SIGN_(P256|P384|SECP256K1)_/.exec(algorithm);
  if (ec) return { kind: 'ec', curve: EC_NAMES[ec[1]!]!, name: algorithm };
  return undefined;
}

/** Azure target given as `RSA:2048`, `EC:P-256` or `oct:256` (the `-HSM` suffix is accepted). */
export function azureTargetKey(spec: string): TargetKey | undefined {
  const m = /^(RSA|EC|oct)(?:-HSM)?:(.+)$/.exec(spec);
  if (!m) return undefined;
  const [, kty, size] = m as unknown as [string, string, string];
  if (kty === 'RSA' && /^(2048|3072|4096)$/.test(size)) return { kind: 'rsa', bits: Number(size), name: spec };
  if (kty === 'EC' && EC_NAMES[size] && size.startsWith('P-')) return { kind: 'ec', curve: EC_NAMES[size]!, name: spec };
  if (kty === 'oct' && /^(128|192|256)$/.test(size)) return { kind: 'symmetric', bytes: Number(size) / 8, name: spec };
  return undefined;
}

/** Largest message RSAES-OAEP can encrypt under a k-byte modulus: k - 2*hLen - 2 (RFC 8017, 7.1.1). */
export function oaepCapacity(rsaBits: number, hash: OaepHash): number {
  return Math.ceil(rsaBits / 8) - 2 * (hash === 'sha1' ? 20 : 32) - 2;
}

/** Length of AES-KWP output for n plaintext bytes: padded to 8 bytes, plus the 8-byte AIV (RFC 5649). */
export function kwpLength(n: number): number {
  return Math.ceil(n / 8) * 8 + 8;
}
