import { ECDH, X509Certificate, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { issue, type Issue } from './codes.ts';
import { spkiSha256 } from './kcv.ts';

/**
 * DER SubjectPublicKeyInfo builders. node:crypto does the ASN.1 (JWK in, `export({type:'spki'})`
 * out); this file only maps the inputs HSMs and clouds hand out onto a JWK.
 *
 * @example const r = spkiFromRsa(modulus, exponent); if (r.ok) spkiSha256(r.value)
 */
export type SpkiResult = { ok: true; value: Buffer } | { ok: false; error: Issue };

export type EcCurve = 'P-256' | 'P-384' | 'P-521' | 'secp256k1';

/** Field size in bytes of each curve, and the OpenSSL name ECDH.convertKey needs. */
export const EC_CURVES: Record<EcCurve, { bytes: number; openssl: string }> = {
  'P-256': { bytes: 32, openssl: 'prime256v1' },
  'P-384': { bytes: 48, openssl: 'secp384r1' },
  'P-521': { bytes: 66, openssl: 'secp521r1' },
  secp256k1: { bytes: 32, openssl: 'secp256k1' },
};

const fail = (message: string): SpkiResult => ({ ok: false, error: issue('KEY_UNPARSEABLE', message) });

function exportSpki(key: KeyObject): SpkiResult {
  if (key.type !== 'public') return fail(`expected a public key, got a ${key.type} key`);
  return { ok: true, value: key.export({ type: 'spki', format: 'der' }) };
}

function stripLeadingZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/** SPKI of an RSA public key from its big-endian modulus and public exponent. */
export function spkiFromRsa(modulus: Buffer, exponent: Buffer): SpkiResult {
  const n = stripLeadingZeros(modulus);
  const e = stripLeadingZeros(exponent);
  if (n.length < 64 || n[0] === 0) return fail(`RSA modulus of ${n.length} bytes is too short or zero`);
  if ((n[n.length - 1]! & 1) === 0) return fail('RSA modulus is even');
  if (e.length === 0 || e.length > 8 || (e[e.length - 1]! & 1) === 0) return fail('RSA public exponent is not a small odd number');
  return spkiFromJwk({ kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') });
}

/**
 * SPKI of an EC public key from its point and curve. Accepts the uncompressed point 04||X||Y, a
 * compressed point 02/03||X, or the DER OCTET STRING wrapping that PKCS#11 CKA_EC_POINT uses.
 */
export function spkiFromEcPoint(point: Buffer, curve: EcCurve): SpkiResult {
  const size = EC_CURVES[curve];
  let p = point;
  // PKCS#11 CKA_EC_POINT is DER: 04 <len> <point>; a raw point never has a length byte there.
  const uncompressedLen = 1 + 2 * size.bytes;
  if (p.length === uncompressedLen + 2 && p[0] === 0x04 && p[1] === uncompressedLen) p = p.subarray(2);
  else if (p.length === uncompressedLen + 3 && p[0] === 0x04 && p[1] === 0x81 && p[2] === uncompressedLen) p = p.subarray(3);
  else if (p.length === size.bytes + 3 && p[0] === 0x04 && p[1] === size.bytes + 1) p = p.subarray(2);
  if (p.length === size.bytes + 1 && (p[0] === 0x02 || p[0] === 0x03)) {
    try {
      p = ECDH.convertKey(p, size.openssl, undefined, undefined, 'uncompressed') as Buffer;
    } catch (e) {
      return fail(`compressed point is not on ${curve}: ${(e as Error).message}`);
    }
  }
  if (p.length !== uncompressedLen || p[0] !== 0x04) {
    return fail(`EC point of ${point.length} bytes does not fit ${curve}`);
  }
  return spkiFromJwk({
    kty: 'EC',
    crv: curve,
    x: p.subarray(1, 1 + size.bytes).toString('base64url'),
    y: p.subarray(1 + size.bytes).toString('base64url'),
  });
}

/** SPKI of a JWK. A private JWK yields its public half. */
export function spkiFromJwk(jwk: JsonWebKey): SpkiResult {
  try {
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = jwk;
    return exportSpki(createPublicKey({ key: pub, format: 'jwk' }));
  } catch (e) {
    return fail(`JWK is not a usable public key: ${(e as Error).message}`);
  }
}

/** SPKI from PEM: PUBLIC KEY, RSA PUBLIC KEY, CERTIFICATE, or a private key (its public half). */
export function spkiFromPem(pem: string): SpkiResult {
  try {
    return exportSpki(createPublicKey(pem));
  } catch (e) {
    return fail(`PEM is not a public key, certificate or private key: ${(e as Error).message}`);
  }
}

/** Normalizes DER SPKI bytes (re-encodes through node so that equal keys give equal bytes). */
export function spkiFromDer(der: Buffer): SpkiResult {
  try {
    return exportSpki(createPublicKey({ key: der, format: 'der', type: 'spki' }));
  } catch (e) {
    return fail(`bytes are not a DER SubjectPublicKeyInfo: ${(e as Error).message}`);
  }
}

export function spkiOfCertificate(cert: X509Certificate): Buffer {
  return cert.publicKey.export({ type: 'spki', format: 'der' });
}

/** Any supported public-key form, as callers of the verifiers pass it. */
export type PublicKeyInput =
  | { pem: string }
  | { jwk: JsonWebKey }
  | { spkiDer: Buffer }
  | { rsa: { modulus: Buffer; exponent: Buffer } }
  | { ec: { point: Buffer; curve: EcCurve } };

export function spkiOf(input: PublicKeyInput): SpkiResult {
  if ('pem' in input) return spkiFromPem(input.pem);
  if ('jwk' in input) return spkiFromJwk(input.jwk);
  if ('spkiDer' in input) return spkiFromDer(input.spkiDer);
  if ('rsa' in input) return spkiFromRsa(input.rsa.modulus, input.rsa.exponent);
  return spkiFromEcPoint(input.ec.point, input.ec.curve);
}

export function sameSpki(a: Buffer, b: Buffer): boolean {
  return spkiSha256(a).equals(spkiSha256(b));
}
