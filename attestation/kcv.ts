import { createCipheriv, createHash } from 'node:crypto';

/**
 * Key check values (KCVs). A KCV is a consistency check, not a proof: three bytes give a 1 in
 * 16.7 million chance of a false match. Each value records its algorithm, because the same AES key
 * has different KCVs under the PKCS#11 (ECB) and the payments (CMAC) conventions.
 *
 * @example aesEcbKcv(key) // PKCS#11 CKA_CHECK_VALUE of an AES key, 3 bytes
 */
export type KcvAlgorithm = 'aes-ecb' | 'aes-cmac' | 'tdes-ecb' | 'spki-sha1' | 'spki-sha256';

export interface Kcv {
  algorithm: KcvAlgorithm;
  value: Buffer;
}

/** PKCS#11 v2.40 CKA_CHECK_VALUE length for secret keys and the Marvell 0x0173 KCV length. */
export const KCV_LENGTH = 3;

const AES_BLOCK = 16;
const DES_BLOCK = 8;

function aesEcbName(key: Buffer): 'aes-128-ecb' | 'aes-192-ecb' | 'aes-256-ecb' {
  switch (key.length) {
    case 16:
      return 'aes-128-ecb';
    case 24:
      return 'aes-192-ecb';
    case 32:
      return 'aes-256-ecb';
    default:
      throw new RangeError(`AES key must be 16, 24 or 32 bytes, got ${key.length}`);
  }
}

function aesEncryptBlock(key: Buffer, block: Buffer): Buffer {
  const cipher = createCipheriv(aesEcbName(key), key, null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(block), cipher.final()]);
}

/** AES-ECB over one 16-byte zero block, truncated (PKCS#11 v2.40 §4.x CKA_CHECK_VALUE). */
export function aesEcbKcv(key: Buffer, length = KCV_LENGTH): Buffer {
  return aesEncryptBlock(key, Buffer.alloc(AES_BLOCK)).subarray(0, length);
}

// RFC 4493 §2.3: subkey doubling in GF(2^128) with Rb = 0x87.
function double(block: Buffer): Buffer {
  const out = Buffer.alloc(AES_BLOCK);
  let carry = 0;
  for (let i = AES_BLOCK - 1; i >= 0; i--) {
    const b = block[i]!;
    out[i] = ((b << 1) | carry) & 0xff;
    carry = b >> 7;
  }
  if (carry) out[AES_BLOCK - 1] = out[AES_BLOCK - 1]! ^ 0x87;
  return out;
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** AES-CMAC (RFC 4493 / NIST SP 800-38B) of any message; returns the full 16-byte tag. */
export function aesCmac(key: Buffer, message: Buffer): Buffer {
  const l = aesEncryptBlock(key, Buffer.alloc(AES_BLOCK));
  const k1 = double(l);
  const k2 = double(k1);
  const blocks = Math.max(1, Math.ceil(message.length / AES_BLOCK));
  const complete = message.length > 0 && message.length % AES_BLOCK === 0;
  const lastStart = (blocks - 1) * AES_BLOCK;
  let last: Buffer;
  if (complete) {
    last = xor(message.subarray(lastStart, lastStart + AES_BLOCK), k1);
  } else {
    const padded = Buffer.alloc(AES_BLOCK);
    const tail = message.subarray(lastStart);
    tail.copy(padded);
    padded[tail.length] = 0x80;
    last = xor(padded, k2);
  }
  const cipher = createCipheriv(aesEcbName(key), key, null);
  cipher.setAutoPadding(false);
  let x = Buffer.alloc(AES_BLOCK);
  for (let i = 0; i < blocks - 1; i++) {
    x = cipher.update(xor(x, message.subarray(i * AES_BLOCK, (i + 1) * AES_BLOCK)));
  }
  return cipher.update(xor(x, last));
}

/** AES-CMAC over one zero block, truncated: the AES KCV of X9.24 tooling and AWS Payment Cryptography. */
export function aesCmacKcv(key: Buffer, length = KCV_LENGTH): Buffer {
  return aesCmac(key, Buffer.alloc(AES_BLOCK)).subarray(0, length);
}

/** Triple-DES ECB over one 8-byte zero block, truncated. Accepts 2-key (16 bytes) or 3-key (24 bytes). */
export function tdesKcv(key: Buffer, length = KCV_LENGTH): Buffer {
  if (key.length !== 16 && key.length !== 24) {
    throw new RangeError(`3DES key must be 16 or 24 bytes, got ${key.length}`);
  }
  const cipher = createCipheriv(key.length === 16 ? 'des-ede-ecb' : 'des-ede3-ecb', key, null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(Buffer.alloc(DES_BLOCK)), cipher.final()]).subarray(0, length);
}

/** First bytes of SHA-1 of a DER SubjectPublicKeyInfo: the asymmetric KCV of Marvell (0x0173) and CloudHSM. */
export function spkiSha1Kcv(spkiDer: Buffer, length = KCV_LENGTH): Buffer {
  return createHash('sha1').update(spkiDer).digest().subarray(0, length);
}

/** SHA-256 of a DER SubjectPublicKeyInfo: the Marvell EKCV (0x1003) and the anchor pin. */
export function spkiSha256(spkiDer: Buffer): Buffer {
  return createHash('sha256').update(spkiDer).digest();
}

/** Computes the KCV of secret key material (`aes-*`, `tdes-ecb`) or of an SPKI (`spki-*`). */
export function computeKcv(algorithm: KcvAlgorithm, material: Buffer, length = KCV_LENGTH): Kcv {
  switch (algorithm) {
    case 'aes-ecb':
      return { algorithm, value: aesEcbKcv(material, length) };
    case 'aes-cmac':
      return { algorithm, value: aesCmacKcv(material, length) };
    case 'tdes-ecb':
      return { algorithm, value: tdesKcv(material, length) };
    case 'spki-sha1':
      return { algorithm, value: spkiSha1Kcv(material, length) };
    case 'spki-sha256':
      return { algorithm, value: spkiSha256(material) };
  }
}

/**
 * Compares two KCVs over their common prefix (tokens report 3 bytes, some tools more). Both sides
 * must name the same algorithm and share at least `minLength` bytes; otherwise the answer is
 * 'incomparable', never a silent match.
 */
export function compareKcv(a: Kcv, b: Kcv, minLength = KCV_LENGTH): 'match' | 'mismatch' | 'incomparable' {
  if (a.algorithm !== b.algorithm) return 'incomparable';
  const n = Math.min(a.value.length, b.value.length);
  if (n < minLength) return 'incomparable';
  return a.value.subarray(0, n).equals(b.value.subarray(0, n)) ? 'match' : 'mismatch';
}
