import { issue, type Issue } from '../codes.ts';
import type { EcCurve } from '../spki.ts';
import type { MarvellObject } from './layout.ts';

/**
 * Attribute numbers of the Marvell blob: PKCS#11 v2.40 CKA_* values plus Marvell's vendor range.
 * KCV (0x0173) and EKCV (0x1003) are Marvell's; AWS CloudHSM documents the same numbering
 * (OBJ_ATTR_KCV = 371).
 */
export const ATTR = {
  CLASS: 0x0000,
  TOKEN: 0x0001,
  PRIVATE: 0x0002,
  LABEL: 0x0003,
  KEY_TYPE: 0x0100,
  ID: 0x0102,
  SENSITIVE: 0x0103,
  MODULUS: 0x0120,
  MODULUS_BITS: 0x0121,
  PUBLIC_EXPONENT: 0x0122,
  VALUE_LEN: 0x0161,
  EXTRACTABLE: 0x0162,
  LOCAL: 0x0163,
  NEVER_EXTRACTABLE: 0x0164,
  ALWAYS_SENSITIVE: 0x0165,
  KCV: 0x0173,
  WRAP_WITH_TRUSTED: 0x0210,
  EKCV: 0x1003,
} as const;

/** PKCS#11 CKO_* object classes. */
export const OBJECT_CLASS: Record<number, 'public' | 'private' | 'secret'> = { 2: 'public', 3: 'private', 4: 'secret' };

/** PKCS#11 CKK_* key types seen in Marvell blobs. */
export const KEY_TYPE: Record<number, string> = { 0x00: 'RSA', 0x03: 'EC', 0x10: 'GENERIC_SECRET', 0x15: 'DES3', 0x1f: 'AES' };

/** Uncompressed EC point length -> curve. 65 bytes is also secp256k1; the EKCV decides (see verify.ts). */
export const EC_POINT_CURVES: Record<number, EcCurve[]> = { 65: ['P-256', 'secp256k1'], 97: ['P-384'], 133: ['P-521'] };

export interface KeyObjectEvidence {
  handle: number;
  class: 'public' | 'private' | 'secret';
  keyType: string;
  extractable?: boolean;
  neverExtractable?: boolean;
  local?: boolean;
  sensitive?: boolean;
  alwaysSensitive?: boolean;
  wrapWithTrusted?: boolean;
  /** 0x0173, hex. */
  kcv?: string;
  /** 0x1003, hex. */
  ekcv?: string;
  label?: string;
  id?: string;
  /** Key length in bytes for secret keys (0x0161). */
  valueLength?: number;
  /** 0x0120 hex: the RSA modulus, or the uncompressed EC point for EC keys. */
  modulus?: string;
  /** 0x0122 hex. */
  publicExponent?: string;
}

export type ObjectResult = { ok: true; value: KeyObjectEvidence } | { ok: false; error: Issue };

const RESIDENCY = [
  ['extractable', ATTR.EXTRACTABLE],
  ['neverExtractable', ATTR.NEVER_EXTRACTABLE],
  ['local', ATTR.LOCAL],
  ['sensitive', ATTR.SENSITIVE],
  ['alwaysSensitive', ATTR.ALWAYS_SENSITIVE],
] as const;

function hexId(type: number): string {
  return `0x${type.toString(16).padStart(4, '0')}`;
}

/** CK_ULONG-like values: 1, 4 or 8 bytes big-endian (the blob uses 1 byte for CLASS and KEY_TYPE). */
function readUlong(v: Buffer): number | undefined {
  if (v.length === 1) return v[0]!;
  if (v.length === 4) return v.readUInt32BE(0);
  if (v.length === 8 && v.readUInt32BE(0) === 0) return v.readUInt32BE(4);
  return undefined;
}

function text(v: Buffer): string {
  const nul = v.indexOf(0);
  return (nul < 0 ? v : v.subarray(0, nul)).toString('latin1');
}

/** Decodes one object's attributes into evidence; private and secret objects must state all five residency flags. */
export function decodeObject(obj: MarvellObject): ObjectResult {
  const a = obj.attributes;
  const bad = (message: string): ObjectResult => ({ ok: false, error: issue('ATTR_INVALID', message) });
  const missing = (type: number, name: string): ObjectResult => ({
    ok: false,
    error: issue('ATTR_MISSING', `object ${obj.handle} has no ${name} (${hexId(type)})`),
  });
  const rawClass = a.get(ATTR.CLASS);
  if (!rawClass) return missing(ATTR.CLASS, 'CLASS');
  const classNo = readUlong(rawClass);
  const cls = classNo === undefined ? undefined : OBJECT_CLASS[classNo];
  if (!cls) return bad(`object ${obj.handle} has CLASS ${rawClass.toString('hex')}, not a public, private or secret key`);
  const rawType = a.get(ATTR.KEY_TYPE);
  if (!rawType) return missing(ATTR.KEY_TYPE, 'KEY_TYPE');
  const typeNo = readUlong(rawType);
  if (typeNo === undefined) return bad(`object ${obj.handle} has a KEY_TYPE of ${rawType.length} bytes`);
  const out: KeyObjectEvidence = { handle: obj.handle, class: cls, keyType: KEY_TYPE[typeNo] ?? `0x${typeNo.toString(16)}` };

  for (const [name, type] of [...RESIDENCY, ['wrapWithTrusted', ATTR.WRAP_WITH_TRUSTED] as const]) {
    const v = a.get(type);
    if (v === undefined) {
      if (cls !== 'public' && name !== 'wrapWithTrusted') return missing(type, name);
      continue;
    }
    if (v.length !== 1 || v[0]! > 1) return bad(`boolean attribute ${name} (${hexId(type)}) of object ${obj.handle} is ${v.toString('hex')}`);
    out[name] = v[0] === 1;
  }
  const kcv = a.get(ATTR.KCV);
  if (kcv !== undefined) {
    if (kcv.length !== 3) return bad(`KCV (0x0173) of object ${obj.handle} has ${kcv.length} bytes, not 3`);
    out.kcv = kcv.toString('hex');
  }
  const ekcv = a.get(ATTR.EKCV);
  if (ekcv !== undefined) {
    if (ekcv.length !== 32) return bad(`EKCV (0x1003) of object ${obj.handle} has ${ekcv.length} bytes, not 32`);
    out.ekcv = ekcv.toString('hex');
  }
  const label = a.get(ATTR.LABEL);
  if (label !== undefined) out.label = text(label);
  const id = a.get(ATTR.ID);
  if (id !== undefined) out.id = text(id);
  const valueLen = a.get(ATTR.VALUE_LEN);
  if (valueLen !== undefined) {
    const n = readUlong(valueLen);
    if (n === undefined) return bad(`VALUE_LEN (0x0161) of object ${obj.handle} has ${valueLen.length} bytes`);
    out.valueLength = n;
  }
  const modulus = a.get(ATTR.MODULUS);
  if (modulus !== undefined && modulus.length > 0) out.modulus = modulus.toString('hex');
  const exponent = a.get(ATTR.PUBLIC_EXPONENT);
  if (exponent !== undefined && exponent.length > 0) out.publicExponent = exponent.toString('hex');
  return { ok: true, value: out };
}
