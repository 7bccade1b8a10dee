import { constants, createCipheriv, generateKeyPairSync, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import type { OaepHash } from './specs.ts';

/**
 * Test material only: wraps key material the way the providers document it, with node:crypto, so
 * the checks are exercised on real ciphertexts. RSAES-OAEP uses MGF1 with the same hash and an
 * empty label; CKM_RSA_AES_KEY_WRAP is OAEP(ephemeral AES key) || AES-KWP(material) (RFC 5649).
 */
export function rsaPair(bits: number): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('rsa', { modulusLength: bits });
}

export function oaepWrap(pub: KeyObject, hash: OaepHash, data: Buffer): Buffer {
  return publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, data);
}

export function kwpWrap(aesKey: Buffer, data: Buffer): Buffer {
  const c = createCipheriv(`id-aes${aesKey.length * 8}-wrap-pad`, aesKey, Buffer.from('a65959a6', 'hex'));
  return Buffer.concat([c.update(data), c.final()]);
}

export function rsaAesWrap(pub: KeyObject, hash: OaepHash, material: Buffer): Buffer {
  const aes = randomBytes(32);
  return Buffer.concat([oaepWrap(pub, hash, aes), kwpWrap(aes, material)]);
}

/** PKCS#8 DER of a fresh private key. */
export function pkcs8(kind: { rsa: number } | { ec: string }): Buffer {
  const pair = 'rsa' in kind ? generateKeyPairSync('rsa', { modulusLength: kind.rsa }) : generateKeyPairSync('ec', { namedCurve: kind.ec });
  return pair.privateKey.export({ type: 'pkcs8', format: 'der' });
}

export const spkiBase64 = (pub: KeyObject): string => pub.export({ type: 'spki', format: 'der' }).toString('base64');
export const pemOf = (k: KeyObject): string => (k.type === 'private' ? k.export({ type: 'pkcs8', format: 'pem' }) : k.export({ type: 'spki', format: 'pem' })).toString();
