import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { parseAnchors, type AnchorFile, type TrustAnchor } from '../anchors.ts';
import { spkiSha1Kcv, spkiSha256 } from '../kcv.ts';
import { ATTR } from './attributes.ts';

/**
 * Test material: the self-made PKI in fixtures/pki (see fixtures/make-pki.sh) and a writer for
 * Marvell-layout blobs. Used by the tests only; it writes the layout from the format description,
 * independently of layout.ts, so a parser bug cannot hide behind a matching builder bug.
 */
const PKI = new URL('./fixtures/pki/', import.meta.url);

export function pkiPem(name: string): string {
  return readFileSync(new URL(`${name}.pem`, PKI), 'utf8');
}

export function pkiKey(name: string): KeyObject {
  return createPrivateKey(readFileSync(new URL(`${name}.key.pem`, PKI), 'utf8'));
}

export function testAnchors(opts: { legacyV1?: boolean; owner?: boolean } = {}): TrustAnchor[] {
  const docs: AnchorFile[] = [
    {
      id: 'test-mfr',
      title: 'test manufacturer root',
      role: 'manufacturer',
      spkiSha256: spkiSha256(createPublicKey(pkiPem('mfr-root')).export({ type: 'spki', format: 'der' })).toString('hex'),
      allowLegacyV1: opts.legacyV1 ?? true,
      source: 'attestation/marvell/fixtures/make-pki.sh',
      certificates: [pkiPem('mfr-root')],
    },
  ];
  if (opts.owner ?? true) {
    docs.push({
      id: 'test-owner',
      title: 'test owner root',
      role: 'owner',
      spkiSha256: spkiSha256(createPublicKey(pkiPem('owner-root')).export({ type: 'spki', format: 'der' })).toString('hex'),
      allowLegacyV1: false,
      source: 'attestation/marvell/fixtures/make-pki.sh',
      certificates: [pkiPem('owner-root')],
    });
  }
  const r = parseAnchors(docs);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

/** The bundle of a well-formed attestation: manufacturer card and partition, owner card and partition. */
export function goodBundle(): string[] {
  return ['mfr-partition', 'mfr-card', 'owner-partition', 'owner-card'].map(pkiPem);
}

export type TestAttr = [type: number, value: Buffer];

const u8 = (n: number) => Buffer.from([n]);
const bool = (b: boolean) => u8(b ? 1 : 0);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

export interface ResidencyFlags {
  extractable: boolean;
  neverExtractable: boolean;
  local: boolean;
  sensitive: boolean;
  alwaysSensitive: boolean;
}

export const GENERATED: ResidencyFlags = { extractable: false, neverExtractable: true, local: true, sensitive: true, alwaysSensitive: true };
export const IMPORTED: ResidencyFlags = { extractable: false, neverExtractable: false, local: false, sensitive: true, alwaysSensitive: false };

function residency(f: ResidencyFlags): TestAttr[] {
  return [
    [ATTR.SENSITIVE, bool(f.sensitive)],
    [ATTR.EXTRACTABLE, bool(f.extractable)],
    [ATTR.LOCAL, bool(f.local)],
    [ATTR.NEVER_EXTRACTABLE, bool(f.neverExtractable)],
    [ATTR.ALWAYS_SENSITIVE, bool(f.alwaysSensitive)],
  ];
}

function label(s: string): Buffer {
  const b = Buffer.alloc(128);
  b.write(s, 'latin1');
  return b;
}

/** Public + private objects of an RSA or EC key pair, with KCV/EKCV from its SPKI. */
export function keyPairObjects(publicKey: KeyObject, flags: ResidencyFlags = GENERATED): TestAttr[][] {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const jwk = publicKey.export({ format: 'jwk' });
  const binding: TestAttr[] = [
    [ATTR.KCV, spkiSha1Kcv(spki)],
    [ATTR.EKCV, spkiSha256(spki)],
  ];
  const material: TestAttr[] =
    jwk.kty === 'RSA'
      ? [
          [ATTR.KEY_TYPE, u8(0)],
          [ATTR.MODULUS, Buffer.from(jwk.n!, 'base64url')],
          [ATTR.PUBLIC_EXPONENT, Buffer.from(jwk.e!, 'base64url')],
        ]
      : [
          [ATTR.KEY_TYPE, u8(3)],
          [ATTR.MODULUS, Buffer.concat([u8(4), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')])],
        ];
  const pub: TestAttr[] = [
    [ATTR.CLASS, u8(2)],
    [ATTR.TOKEN, u8(1)],
    [ATTR.LABEL, label('app_key')],
    ...material,
    [ATTR.SENSITIVE, u8(0)],
    [ATTR.EXTRACTABLE, u8(1)],
    [ATTR.NEVER_EXTRACTABLE, u8(0)],
    ...binding,
  ];
  const priv: TestAttr[] = [
    [ATTR.CLASS, u8(3)],
    [ATTR.TOKEN, u8(1)],
    [ATTR.LABEL, label('app_key')],
    [ATTR.KEY_TYPE, material[0]![1]],
    ...residency(flags),
    [ATTR.VALUE_LEN, u32(1218)],
    ...binding,
  ];
  return [pub, priv];
}

/** One secret-key object (AES) with the given KCV. */
export function secretObject(kcv: Buffer, flags: ResidencyFlags = GENERATED, valueLength = 32): TestAttr[][] {
  return [
    [
      [ATTR.CLASS, u8(4)],
      [ATTR.KEY_TYPE, u8(0x1f)],
      [ATTR.LABEL, label('app_key')],
      [ATTR.VALUE_LEN, u32(valueLength)],
      ...residency(flags),
      [ATTR.KCV, kcv],
      [ATTR.EKCV, Buffer.alloc(32, 0xab)],
    ],
  ];
}

export interface BlobOptions {
  signer?: KeyObject;
  gzip?: boolean;
  handles?: number[];
  /** Zero bytes appended inside each object after its last attribute (counted in the object size). */
  padObjects?: number;
  /** Zero bytes between the last object and the signature (counted in the buffer size). */
  padBuffer?: number;
}

/** Writes objects in the header-driven Marvell layout and appends a PKCS#1 v1.5 SHA-256 signature. */
export function buildBlob(objects: TestAttr[][], opts: BlobOptions = {}): Buffer {
  const handles = opts.handles ?? objects.map((_, i) => 0xa1c + i);
  const bodies = objects.map((attrs, i) => {
    const tlvs = Buffer.concat([...attrs.map(([t, v]) => Buffer.concat([u32(t), u32(v.length), v])), Buffer.alloc(opts.padObjects ?? 0)]);
    return Buffer.concat([u32(handles[i]!), u32(attrs.length), u32(tlvs.length), tlvs]);
  });
  const offsets = [8, bodies.length > 1 ? 8 + bodies[0]!.length : 0];
  const infoHeader = Buffer.alloc(8);
  infoHeader.writeUInt16BE(1, 0);
  infoHeader.writeUInt16BE(3, 2);
  infoHeader.writeUInt16BE(offsets[0]!, 4);
  infoHeader.writeUInt16BE(offsets[1]!, 6);
  const buffer = Buffer.concat([infoHeader, ...bodies, Buffer.alloc(opts.padBuffer ?? 0)]);
  const handleList = Buffer.concat(handles.map((h) => Buffer.concat([u32(0), u32(h)])));
  const total = 16 + handleList.length + buffer.length + 256;
  const header = Buffer.concat([u32(0), u32(3), u32(total), u32(buffer.length)]);
  const data = Buffer.concat([header, handleList, buffer]);
  const signature = sign('sha256', data, opts.signer ?? pkiKey('partition'));
  const blob = Buffer.concat([data, signature]);
  return opts.gzip ? gzipSync(blob) : blob;
}

/** Re-signs a (modified) raw blob with the test partition key. */
export function resign(raw: Buffer, signer: KeyObject = pkiKey('partition')): Buffer {
  const data = raw.subarray(0, raw.length - 256);
  return Buffer.concat([data, sign('sha256', data, signer)]);
}
