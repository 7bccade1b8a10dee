import { ECDH, X509Certificate, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sameSpki, spkiFromDer, spkiFromEcPoint, spkiFromJwk, spkiFromPem, spkiFromRsa, spkiOf, spkiOfCertificate, type EcCurve } from './spki.ts';

const HAWKSBILL = readFileSync(new URL('./marvell/fixtures/pki/owner-root.pem', import.meta.url), 'utf8');

function value(r: ReturnType<typeof spkiFromRsa>): Buffer {
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

describe('spkiFromRsa', () => {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const expected = publicKey.export({ type: 'spki', format: 'der' });
  const jwk = publicKey.export({ format: 'jwk' });
  const n = Buffer.from(jwk.n!, 'base64url');
  const e = Buffer.from(jwk.e!, 'base64url');

  it('rebuilds the exact DER SPKI from the modulus and exponent', () => {
    expect(value(spkiFromRsa(n, e)).equals(expected)).toBe(true);
  });

  it('ignores a leading zero byte on the modulus (as ASN.1 INTEGERs and some HSMs carry it)', () => {
    expect(value(spkiFromRsa(Buffer.concat([Buffer.alloc(1), n]), e)).equals(expected)).toBe(true);
  });

  it('rejects an even modulus, an even exponent and a tiny modulus with KEY_UNPARSEABLE', () => {
    const even = Buffer.from(n);
    even[even.length - 1] = even[even.length - 1]! & 0xfe;
    for (const r of [spkiFromRsa(even, e), spkiFromRsa(n, Buffer.from([2])), spkiFromRsa(Buffer.from([0xff, 0x01]), e)]) {
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('KEY_UNPARSEABLE');
    }
  });
});

describe('spkiFromEcPoint', () => {
  const curves: [EcCurve, string][] = [
    ['P-256', 'prime256v1'],
    ['P-384', 'secp384r1'],
    ['P-521', 'secp521r1'],
    ['secp256k1', 'secp256k1'],
  ];
  for (const [curve, named] of curves) {
    it(`rebuilds the SPKI of a ${curve} key from its uncompressed, compressed and DER-wrapped point`, () => {
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: named });
      const expected = publicKey.export({ type: 'spki', format: 'der' });
      const jwk = publicKey.export({ format: 'jwk' });
      const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
      expect(value(spkiFromEcPoint(point, curve)).equals(expected)).toBe(true);
      const compressed = ECDH.convertKey(point, named, undefined, undefined, 'compressed') as Buffer;
      expect(value(spkiFromEcPoint(compressed, curve)).equals(expected)).toBe(true);
      const lenBytes = point.length < 128 ? [point.length] : [0x81, point.length];
      const der = Buffer.concat([Buffer.from([0x04, ...lenBytes]), point]);
      expect(value(spkiFromEcPoint(der, curve)).equals(expected)).toBe(true);
    });
  }

  it('rejects a point of the wrong size for the curve and a point not on the curve', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const jwk = publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    expect(spkiFromEcPoint(point, 'P-384').ok).toBe(false);
    const offCurve = Buffer.from(point);
    offCurve[64] = offCurve[64]! ^ 1;
    expect(spkiFromEcPoint(offCurve, 'P-256').ok).toBe(false);
  });
});

describe('spkiFromJwk, spkiFromPem, spkiFromDer', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const expected = publicKey.export({ type: 'spki', format: 'der' });

  it('gives the same SPKI from a public JWK, a private JWK, a PUBLIC KEY PEM, a private key PEM and DER', () => {
    expect(value(spkiFromJwk(publicKey.export({ format: 'jwk' }))).equals(expected)).toBe(true);
    expect(value(spkiFromJwk(privateKey.export({ format: 'jwk' }))).equals(expected)).toBe(true);
    expect(value(spkiFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string)).equals(expected)).toBe(true);
    expect(value(spkiFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)).equals(expected)).toBe(true);
    expect(value(spkiFromDer(expected)).equals(expected)).toBe(true);
    expect(value(spkiOf({ jwk: publicKey.export({ format: 'jwk' }) })).equals(expected)).toBe(true);
  });

  it('reads the key of a certificate PEM', () => {
    const cert = new X509Certificate(HAWKSBILL);
    expect(value(spkiFromPem(HAWKSBILL)).equals(spkiOfCertificate(cert))).toBe(true);
  });

  it('rejects garbage with KEY_UNPARSEABLE rather than throwing', () => {
    for (const r of [spkiFromPem('not a key'), spkiFromDer(Buffer.from('3003020100', 'hex')), spkiFromJwk({ kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' })]) {
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('KEY_UNPARSEABLE');
    }
  });
});

describe('sameSpki', () => {
  it('is true only for the same key', () => {
    const a = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' });
    const b = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' });
    expect(sameSpki(a, Buffer.from(a))).toBe(true);
    expect(sameSpki(a, b)).toBe(false);
  });
});
