import { describe, expect, it } from 'vitest';
import { aesCmac, aesCmacKcv, aesEcbKcv, compareKcv, computeKcv, spkiSha1Kcv, spkiSha256, tdesKcv } from './kcv.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
// RFC 4493 §4 key; NIST SP 800-38B Appendix D.3 AES-256 key.
const RFC4493_KEY = hex('2b7e1516 28aed2a6 abf71588 09cf4f3c');
const SP800_38B_KEY256 = hex('603deb10 15ca71be 2b73aef0 857d7781 1f352c07 3b6108d7 2d9810a3 0914dff4');
const MESSAGE64 = hex(
  '6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51 30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710',
);
const KEY_00_1F = Buffer.from(Array.from({ length: 32 }, (_, i) => i));

describe('AES-CMAC', () => {
  it('matches the RFC 4493 examples for empty, 16-, 40- and 64-byte messages', () => {
    expect(aesCmac(RFC4493_KEY, Buffer.alloc(0)).toString('hex')).toBe('bb1d6929e95937287fa37d129b756746');
    expect(aesCmac(RFC4493_KEY, MESSAGE64.subarray(0, 16)).toString('hex')).toBe('070a16b46b4d4144f79bdd9dd04a287c');
    expect(aesCmac(RFC4493_KEY, MESSAGE64.subarray(0, 40)).toString('hex')).toBe('dfa66747de9ae63030ca32611497c827');
    expect(aesCmac(RFC4493_KEY, MESSAGE64).toString('hex')).toBe('51f0bebf7e3b9d92fc49741779363cfe');
  });

  it('matches the NIST SP 800-38B AES-256 examples', () => {
    expect(aesCmac(SP800_38B_KEY256, Buffer.alloc(0)).toString('hex')).toBe('028962f61b7bf89efc6b551f4667d983');
    expect(aesCmac(SP800_38B_KEY256, MESSAGE64.subarray(0, 16)).toString('hex')).toBe('28a7023f452e8f82bd4bf28d8c37c35c');
  });

  it('gives the CMAC KCV that SoftHSM2 CKM_AES_CMAC reports for key 00..1f', () => {
    expect(aesCmacKcv(KEY_00_1F).toString('hex')).toBe('377822');
  });
});

describe('AES-ECB KCV (PKCS#11 CKA_CHECK_VALUE)', () => {
  it('equals the first bytes of AES-128(K, 0^128) from the RFC 4493 subkey example', () => {
    // RFC 4493 §4: "AES-128(key,0) 7df76b0c 1ab899b3 3e42f047 b91b546f"
    expect(aesEcbKcv(RFC4493_KEY).toString('hex')).toBe('7df76b');
    expect(aesEcbKcv(RFC4493_KEY, 16).toString('hex')).toBe('7df76b0c1ab899b33e42f047b91b546f');
  });

  it('gives f29000 for the AES-256 key 00..1f, as SoftHSM2 reports, and differs from the CMAC KCV', () => {
    expect(aesEcbKcv(KEY_00_1F).toString('hex')).toBe('f29000');
    expect(aesEcbKcv(KEY_00_1F).equals(aesCmacKcv(KEY_00_1F))).toBe(false);
  });

  it('rejects a key of a length AES does not have', () => {
    expect(() => aesEcbKcv(Buffer.alloc(15))).toThrow(RangeError);
  });
});

describe('3DES KCV', () => {
  it('gives 3fd539 for the 3-key test key 0123456789abcdef fedcba9876543210 89abcdef01234567', () => {
    expect(tdesKcv(hex('0123456789abcdef fedcba9876543210 89abcdef01234567')).toString('hex')).toBe('3fd539');
  });

  it('treats a 2-key key as K1 K2 K1', () => {
    const k1k2 = hex('0123456789abcdef fedcba9876543210');
    expect(tdesKcv(k1k2).equals(tdesKcv(Buffer.concat([k1k2, k1k2.subarray(0, 8)])))).toBe(true);
  });

  it('rejects a single-DES key', () => {
    expect(() => tdesKcv(Buffer.alloc(8))).toThrow(RangeError);
  });
});

describe('SPKI KCVs', () => {
  it('hashes the DER SPKI with SHA-1 (3 bytes) and SHA-256 (32 bytes)', () => {
    // FIPS 180 "abc" vectors stand in for SPKI bytes: the functions hash exactly what they get.
    const abc = Buffer.from('abc');
    expect(spkiSha1Kcv(abc).toString('hex')).toBe('a9993e');
    expect(spkiSha256(abc).toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('computeKcv and compareKcv', () => {
  it('dispatches on the algorithm name', () => {
    expect(computeKcv('aes-ecb', KEY_00_1F).value.toString('hex')).toBe('f29000');
    expect(computeKcv('aes-cmac', KEY_00_1F).value.toString('hex')).toBe('377822');
  });

  it('matches on a common prefix, refuses to compare different algorithms or too-short values', () => {
    const ecb = computeKcv('aes-ecb', KEY_00_1F);
    expect(compareKcv(ecb, { algorithm: 'aes-ecb', value: aesEcbKcv(KEY_00_1F, 8) })).toBe('match');
    expect(compareKcv(ecb, { algorithm: 'aes-ecb', value: hex('f29001') })).toBe('mismatch');
    expect(compareKcv(ecb, computeKcv('aes-cmac', KEY_00_1F))).toBe('incomparable');
    expect(compareKcv(ecb, { algorithm: 'aes-ecb', value: hex('f290') })).toBe('incomparable');
  });
});
