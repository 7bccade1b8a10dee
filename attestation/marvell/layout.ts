import { issue, type Issue } from '../codes.ts';

/**
 * Strict parser for the header-driven Marvell (Cavium) LiquidSecurity attestation layout that
 * Google Cloud HSM (gzip) and Azure Managed HSM (base64url) return. All integers are big-endian:
 *
 *   0  u32 response code (0)          4  u32 request flags (3 = GET_ATTR | GET_ATTEST)
 *   8  u32 total size (= blob length) 12 u32 buffer size (info header + objects)
 *   16 n x (u32 0, u32 handle)        one pair per attested object, n = 1 or 2
 *   I  u16 object version (1), u16 flags, u16 offset of object 1, u16 offset of object 2 (0 if none)
 *      with I = total - buffer - signature length; offsets count from I
 *   I+off  u32 handle, u32 attribute count, u32 object size, then count x (u32 type, u32 len, value)
 *   total - 256  RSA PKCS#1 v1.5 / SHA-256 signature over every byte before it
 *
 * Sources: the layout Marvell's parse_v2.py, Microsoft's azure-managed-hsm-key-attestation and
 * Google's Cloud HSM docs describe; every invariant below holds on the real Google samples in
 * attestation/marvell/fixtures/gcp-cloud-hsm (copied from shared/fixtures). Anything else (the fw2.x fixed-offset and CAVIUM_V1
 * layouts, for which no real sample exists) is rejected, not guessed.
 *
 * @example const r = parseMarvellLayout(gunzipped); if (r.ok) r.value.objects[0].attributes.get(0x0162)
 */
export interface MarvellObject {
  handle: number;
  /** Attribute values by PKCS#11 / Marvell attribute type, in blob order. */
  attributes: Map<number, Buffer>;
}

export interface MarvellLayout {
  requestFlags: number;
  infoFlags: number;
  objects: MarvellObject[];
  /** Bytes covered by the signature: everything before it. */
  signedData: Buffer;
  signature: Buffer;
}

export type LayoutResult = { ok: true; value: MarvellLayout } | { ok: false; error: Issue };

export interface LayoutLimits {
  /** Signature length in bytes; LS1 partition keys are RSA-2048. */
  signatureLength: number;
  /** Most attributes one object may declare (real objects carry about 35). */
  maxAttributes: number;
}

export const DEFAULT_LAYOUT_LIMITS: LayoutLimits = { signatureLength: 256, maxAttributes: 512 };

const FLAG_GET_ATTR = 0x1;
const FLAG_GET_ATTEST = 0x2;
const HEADER = 16;
const HANDLE_ENTRY = 8;
const INFO_HEADER = 8;
const OBJECT_HEADER = 12;
const TLV_HEADER = 8;

const err = (code: Parameters<typeof issue>[0], message: string): LayoutResult => ({ ok: false, error: issue(code, message) });

export function parseMarvellLayout(blob: Buffer, limits: LayoutLimits = DEFAULT_LAYOUT_LIMITS): LayoutResult {
  const sigLen = limits.signatureLength;
  if (blob.length < HEADER + HANDLE_ENTRY + INFO_HEADER + OBJECT_HEADER + sigLen) {
    return err('LAYOUT_TRUNCATED', `blob of ${blob.length} bytes is shorter than the smallest possible attestation`);
  }
  const responseCode = blob.readUInt32BE(0);
  const requestFlags = blob.readUInt32BE(4);
  const total = blob.readUInt32BE(8);
  const buffer = blob.readUInt32BE(12);
  if (responseCode !== 0) return err('LAYOUT_UNSUPPORTED', `response code ${responseCode} is not 0 (success)`);
  if (requestFlags !== (FLAG_GET_ATTR | FLAG_GET_ATTEST)) {
    return err('LAYOUT_UNSUPPORTED', `request flags 0x${requestFlags.toString(16)} are not GET_ATTR|GET_ATTEST (0x3)`);
  }
  if (total > blob.length) return err('LAYOUT_TRUNCATED', `total size field says ${total} bytes but the blob has ${blob.length}`);
  if (total < blob.length) return err('LAYOUT_TRAILING_BYTES', `${blob.length - total} bytes follow the ${total} bytes the total size field declares`);
  const sigStart = total - sigLen;
  const info = sigStart - buffer;
  if (buffer > sigStart || info < HEADER + HANDLE_ENTRY || (info - HEADER) % HANDLE_ENTRY !== 0) {
    return err('LAYOUT_INCONSISTENT', `buffer size ${buffer} does not leave room for a handle list of whole entries`);
  }
  const count = (info - HEADER) / HANDLE_ENTRY;
  if (count > 2) return err('LAYOUT_UNSUPPORTED', `${count} attested objects; the layout holds one key or one key pair`);
  const handles: number[] = [];
  for (let i = 0; i < count; i++) {
    const at = HEADER + i * HANDLE_ENTRY;
    if (blob.readUInt32BE(at) !== 0) return err('LAYOUT_INCONSISTENT', `handle entry ${i} has a non-zero upper word`);
    handles.push(blob.readUInt32BE(at + 4));
  }
  const version = blob.readUInt16BE(info);
  const infoFlags = blob.readUInt16BE(info + 2);
  const offsets = [blob.readUInt16BE(info + 4), blob.readUInt16BE(info + 6)];
  if (version !== 1) return err('LAYOUT_UNSUPPORTED', `object version ${version} is not 1`);
  if (count === 1 && offsets[1] !== 0) return err('LAYOUT_INCONSISTENT', 'one handle is listed but the info header gives a second object offset');

  const objects: MarvellObject[] = [];
  let expectedOffset = INFO_HEADER;
  for (let i = 0; i < count; i++) {
    const off = offsets[i]!;
    if (off !== expectedOffset) {
      return err('LAYOUT_INCONSISTENT', `object ${i} starts at offset ${off}, expected ${expectedOffset} (objects follow each other)`);
    }
    const start = info + off;
    if (start + OBJECT_HEADER > sigStart) return err('LAYOUT_TRUNCATED', `object ${i} header runs into the signature`);
    const handle = blob.readUInt32BE(start);
    const attrCount = blob.readUInt32BE(start + 4);
    const size = blob.readUInt32BE(start + 8);
    if (handle !== handles[i]) return err('LAYOUT_INCONSISTENT', `object ${i} has handle ${handle}, the handle list says ${handles[i]}`);
    if (attrCount > limits.maxAttributes) return err('ATTR_TOO_MANY', `object ${i} declares ${attrCount} attributes; the limit is ${limits.maxAttributes}`);
    const end = start + OBJECT_HEADER + size;
    if (end > sigStart) return err('LAYOUT_TRUNCATED', `object ${i} of ${size} bytes runs past the signed data`);
    const attributes = new Map<number, Buffer>();
    let pos = start + OBJECT_HEADER;
    for (let a = 0; a < attrCount; a++) {
      if (pos + TLV_HEADER > end) return err('LAYOUT_TRUNCATED', `attribute ${a} of object ${i} starts past the object end`);
      const type = blob.readUInt32BE(pos);
      const len = blob.readUInt32BE(pos + 4);
      if (pos + TLV_HEADER + len > end) return err('LAYOUT_TRUNCATED', `attribute 0x${type.toString(16)} of object ${i} (${len} bytes) runs past the object end`);
      if (attributes.has(type)) return err('ATTR_DUPLICATE', `attribute 0x${type.toString(16)} appears twice in object ${i}`);
      attributes.set(type, blob.subarray(pos + TLV_HEADER, pos + TLV_HEADER + len));
      pos += TLV_HEADER + len;
    }
    if (pos !== end) return err('LAYOUT_TRAILING_BYTES', `${end - pos} bytes follow the last attribute of object ${i}`);
    objects.push({ handle, attributes });
    expectedOffset = end - info;
  }
  if (info + expectedOffset !== sigStart) {
    return err('LAYOUT_TRAILING_BYTES', `${sigStart - info - expectedOffset} bytes lie between the last object and the signature`);
  }
  return {
    ok: true,
    value: { requestFlags, infoFlags, objects, signedData: blob.subarray(0, sigStart), signature: blob.subarray(sigStart) },
  };
}
