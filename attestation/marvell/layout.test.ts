import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ATTR } from './attributes.ts';
import { parseMarvellLayout, type LayoutResult } from './layout.ts';
import { buildBlob, keyPairObjects, secretObject, type TestAttr } from './testing.ts';

const REAL = new URL('./fixtures/gcp-cloud-hsm/', import.meta.url);
const real = (name: string) => gunzipSync(readFileSync(new URL(`${name}.dat`, REAL)));

const ecPair = keyPairObjects(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey);
const aes = secretObject(Buffer.from('892573', 'hex'));

function code(r: LayoutResult): string {
  return r.ok ? 'ok' : r.error.code;
}

function patch(blob: Buffer, at: number, value: number, bytes: 2 | 4 = 4): Buffer {
  const b = Buffer.from(blob);
  if (bytes === 4) b.writeUInt32BE(value, at);
  else b.writeUInt16BE(value, at);
  return b;
}

describe('parseMarvellLayout on the real Google Cloud HSM samples', () => {
  it('parses the EC and RSA key-pair blobs into a public (class 2) and a private (class 3) object', () => {
    for (const name of ['ec', 'rsa']) {
      const r = parseMarvellLayout(real(name));
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(r.value.objects.map((o) => o.attributes.get(ATTR.CLASS)?.[0])).toEqual([2, 3]);
      expect(r.value.signature.length).toBe(256);
      expect(r.value.signedData.length + 256).toBe(real(name).length);
    }
  });

  it('parses the AES blob into one secret-key object (class 4, key type 0x1f)', () => {
    const r = parseMarvellLayout(real('aes'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.objects).toHaveLength(1);
    expect(r.value.objects[0]!.attributes.get(ATTR.CLASS)).toEqual(Buffer.from([4]));
    expect(r.value.objects[0]!.attributes.get(ATTR.KEY_TYPE)).toEqual(Buffer.from([0x1f]));
    expect(r.value.objects[0]!.attributes.get(ATTR.KCV)?.toString('hex')).toBe('892573');
  });
});

describe('parseMarvellLayout on self-made blobs', () => {
  it('round-trips a key pair and a single secret object written by the test builder', () => {
    expect(code(parseMarvellLayout(buildBlob(ecPair)))).toBe('ok');
    expect(code(parseMarvellLayout(buildBlob(aes)))).toBe('ok');
  });

  it('LAYOUT_TRUNCATED: a blob cut short, a tiny blob, an attribute length past the object end', () => {
    const blob = buildBlob(aes);
    expect(code(parseMarvellLayout(blob.subarray(0, blob.length - 1)))).toBe('LAYOUT_TRUNCATED');
    expect(code(parseMarvellLayout(Buffer.alloc(40)))).toBe('LAYOUT_TRUNCATED');
    // first attribute of the single object: header 16 + handle 8 + info 8 + object header 12 -> TLV at 44
    expect(code(parseMarvellLayout(patch(blob, 44 + 4, 0x7fffffff)))).toBe('LAYOUT_TRUNCATED');
    // object size running into the signature
    expect(code(parseMarvellLayout(patch(blob, 32 + 8, 0xffff)))).toBe('LAYOUT_TRUNCATED');
  });

  it('LAYOUT_TRAILING_BYTES: bytes after the declared total, inside an object, or before the signature', () => {
    const blob = buildBlob(aes);
    expect(code(parseMarvellLayout(Buffer.concat([blob, Buffer.alloc(1)])))).toBe('LAYOUT_TRAILING_BYTES');
    expect(code(parseMarvellLayout(buildBlob(aes, { padObjects: 4 })))).toBe('LAYOUT_TRAILING_BYTES');
    expect(code(parseMarvellLayout(buildBlob(ecPair, { padBuffer: 8 })))).toBe('LAYOUT_TRAILING_BYTES');
  });

  it('LAYOUT_UNSUPPORTED: a non-zero response code, other request flags, object version 2, three objects', () => {
    const blob = buildBlob(aes);
    expect(code(parseMarvellLayout(patch(blob, 0, 1)))).toBe('LAYOUT_UNSUPPORTED');
    expect(code(parseMarvellLayout(patch(blob, 4, 7)))).toBe('LAYOUT_UNSUPPORTED');
    expect(code(parseMarvellLayout(patch(blob, 24, 2, 2)))).toBe('LAYOUT_UNSUPPORTED');
    const three = buildBlob([...ecPair, ...aes]);
    expect(code(parseMarvellLayout(three))).toBe('LAYOUT_UNSUPPORTED');
  });

  it('LAYOUT_INCONSISTENT: a handle that differs from the list, an object offset that skips bytes, a buffer size too large', () => {
    const blob = buildBlob(ecPair);
    expect(code(parseMarvellLayout(patch(blob, 20, 0x999)))).toBe('LAYOUT_INCONSISTENT');
    expect(code(parseMarvellLayout(patch(blob, 16, 1)))).toBe('LAYOUT_INCONSISTENT');
    expect(code(parseMarvellLayout(patch(blob, 32 + 6, blob.readUInt16BE(32 + 6) + 4, 2)))).toBe('LAYOUT_INCONSISTENT');
    expect(code(parseMarvellLayout(patch(blob, 12, blob.length)))).toBe('LAYOUT_INCONSISTENT');
    const single = buildBlob(aes);
    expect(code(parseMarvellLayout(patch(single, 24 + 6, 8, 2)))).toBe('LAYOUT_INCONSISTENT');
  });

  it('ATTR_DUPLICATE: the same attribute twice in one object', () => {
    const dup: TestAttr[][] = [[...aes[0]!, [ATTR.EXTRACTABLE, Buffer.from([0])]]];
    expect(code(parseMarvellLayout(buildBlob(dup)))).toBe('ATTR_DUPLICATE');
  });

  it('ATTR_TOO_MANY: an attribute count above the limit is rejected before walking it', () => {
    const blob = buildBlob(aes);
    expect(code(parseMarvellLayout(patch(blob, 32 + 4, 1_000_000_000)))).toBe('ATTR_TOO_MANY');
    expect(code(parseMarvellLayout(blob, { signatureLength: 256, maxAttributes: 3 }))).toBe('ATTR_TOO_MANY');
  });
});
