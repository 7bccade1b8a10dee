import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadAnchorDir } from '../anchors.ts';
import { ATTR } from './attributes.ts';
import { decodeBase64, fromAzureKeyAttestation, fromGoogleImportJob, fromGoogleKeyAttestation, type InputResult } from './inputs.ts';
import { buildBlob, goodBundle, keyPairObjects, pkiPem, testAnchors, type TestAttr } from './testing.ts';
import { verifyMarvellBundle } from './verify.ts';

const REAL = new URL('./fixtures/gcp-cloud-hsm/', import.meta.url);
const AT = new Date('2025-06-01T00:00:00Z');
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }) as string;

function value(r: InputResult) {
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.value;
}

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/** The real ec sample reshaped as the KeyOperationAttestation JSON the REST API returns. */
function googleJson(format = 'CAVIUM_V2_COMPRESSED') {
  const certs = splitPem(readFileSync(new URL('ec.certs', REAL), 'utf8'));
  return {
    format,
    content: readFileSync(new URL('ec.dat', REAL)).toString('base64'),
    certChains: { caviumCerts: certs.slice(0, 3).reverse(), googleCardCerts: [certs[4]!, certs[3]!], googlePartitionCerts: [certs[5]!, certs[3]!] },
  };
}

function shipped() {
  const r = loadAnchorDir();
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

describe('decodeBase64', () => {
  it('accepts base64url with and without padding and rejects stray characters', () => {
    const bytes = Buffer.from([0xfb, 0xff, 0x01, 0x02]);
    expect(decodeBase64(bytes.toString('base64url'), true)).toEqual(bytes);
    expect(decodeBase64(bytes.toString('base64url') + '==', true)).toEqual(bytes);
    expect(decodeBase64(bytes.toString('base64'), true)).toBeUndefined();
    expect(decodeBase64('ab$d', false)).toBeUndefined();
    expect(decodeBase64('abcde', false)).toBeUndefined();
  });
});

describe('Google key attestation JSON', () => {
  it('verifies the real EC sample given as KeyOperationAttestation JSON (both format labels, or a CryptoKeyVersion wrapper)', () => {
    for (const doc of [googleJson(), googleJson('CAVIUM_V1_COMPRESSED'), { name: 'projects/p/.../cryptoKeyVersions/1', attestation: googleJson() }]) {
      const input = value(fromGoogleKeyAttestation(doc));
      expect(input.requireOwnerChain).toBe(true);
      const r = verifyMarvellBundle(input, shipped(), AT);
      expect(r.verdict).toBe('valid');
      expect(r.blobs[0]!.result.anchorsUsed.map((a) => a.id)).toEqual(['marvell-ls1', 'google-hawksbill-v1']);
    }
  });

  it('FORMAT_UNSUPPORTED for an unspecified format; DECODE_FAILED for content that is not base64 or a missing field', () => {
    const unspecified = fromGoogleKeyAttestation(googleJson('ATTESTATION_FORMAT_UNSPECIFIED'));
    expect(unspecified.ok ? 'ok' : unspecified.error.code).toBe('FORMAT_UNSUPPORTED');
    const notB64 = fromGoogleKeyAttestation({ ...googleJson(), content: '%%%' });
    expect(notB64.ok ? 'ok' : notB64.error.code).toBe('DECODE_FAILED');
    const missing = fromGoogleKeyAttestation({ format: 'CAVIUM_V2_COMPRESSED' });
    expect(missing.ok ? 'ok' : missing.error.code).toBe('DECODE_FAILED');
  });
});

describe('Google import job', () => {
  const wrapping = generateKeyPairSync('rsa', { modulusLength: 3072 });
  const job = (publicKey: KeyObject, protectionLevel = 'HSM') => ({
    name: 'projects/p/locations/l/keyRings/r/importJobs/j',
    importMethod: 'RSA_OAEP_3072_SHA256_AES_256',
    protectionLevel,
    state: 'ACTIVE',
    publicKey: { pem: pem(publicKey) },
    attestation: {
      format: 'CAVIUM_V2_COMPRESSED',
      content: buildBlob(keyPairObjects(wrapping.publicKey), { gzip: true }).toString('base64'),
      certChains: { caviumCerts: [pkiPem('mfr-partition'), pkiPem('mfr-card')], googleCardCerts: [pkiPem('owner-card')], googlePartitionCerts: [pkiPem('owner-partition')] },
    },
  });

  it("binds the job's attestation to the job's wrapping public key", () => {
    const r = verifyMarvellBundle(value(fromGoogleImportJob(job(wrapping.publicKey))), testAnchors(), AT);
    expect(r.verdict).toBe('valid');
    expect(r.blobs[0]!.result.evidence!.binding).toBe('ekcv-match');
  });

  it('BINDING_MISMATCH when the attestation is about another key than the job publishes', () => {
    const r = verifyMarvellBundle(value(fromGoogleImportJob(job(generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey))), testAnchors(), AT);
    expect(r.blobs[0]!.result.failures.map((f) => f.code)).toEqual(['BINDING_MISMATCH']);
  });

  it('FORMAT_UNSUPPORTED for a SOFTWARE import job (it has no HSM attestation)', () => {
    const r = fromGoogleImportJob(job(wrapping.publicKey, 'SOFTWARE'));
    expect(r.ok ? 'ok' : r.error.code).toBe('FORMAT_UNSUPPORTED');
  });
});

describe('Azure Managed HSM key attestation JSON', () => {
  const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const kid = 'https://contoso.managedhsm.azure.net/keys/app-key/0123456789abcdef';
  const idAttr = (s: string): TestAttr => {
    const b = Buffer.alloc(128);
    b.write(s, 'latin1');
    return [ATTR.ID, b];
  };
  const withId = (objects: TestAttr[][], id: string) => objects.map((o) => [...o, idAttr(id)]);
  const azure = (opts: { version?: string; id?: string; publicOf?: KeyObject; pad?: boolean } = {}) => {
    const [pub, priv] = keyPairObjects(key.publicKey);
    const [otherPub] = keyPairObjects(opts.publicOf ?? key.publicKey);
    const id = opts.id ?? kid;
    const b64 = (b: Buffer) => (opts.pad ? b.toString('base64') .replace(/\+/g, '-').replace(/\//g, '_') : b.toString('base64url'));
    const jwk = key.publicKey.export({ format: 'jwk' });
    return {
      key: { kid, kty: 'EC-HSM', crv: 'P-256', x: jwk.x, y: jwk.y, key_ops: ['sign', 'verify'] },
      attributes: {
        enabled: true,
        attestation: {
          version: opts.version ?? 'MRVL-1',
          certificatePemFile: b64(Buffer.from(goodBundle().join('\n'))),
          privateKeyAttestation: b64(buildBlob(withId([priv!], id))),
          publicKeyAttestation: b64(buildBlob(withId(opts.publicOf ? [otherPub!] : [pub!], id))),
        },
      },
    };
  };

  it('verifies both blobs against the Marvell chain, binds them to the JWK and checks the key id', () => {
    for (const pad of [false, true]) {
      const input = value(fromAzureKeyAttestation(azure({ pad })));
      expect(input.requireOwnerChain).toBe(false);
      const r = verifyMarvellBundle(input, testAnchors(), AT);
      expect(r.failures).toEqual([]);
      expect(r.blobs.map((b) => [b.name, b.result.verdict, b.result.evidence!.binding])).toEqual([
        ['privateKeyAttestation', 'valid', 'ekcv-match'],
        ['publicKeyAttestation', 'valid', 'ekcv-match'],
      ]);
      expect(r.verdict).toBe('valid');
    }
  });

  it('FORMAT_UNSUPPORTED for a version other than MRVL-1', () => {
    const r = fromAzureKeyAttestation(azure({ version: 'MRVL-2' }));
    expect(r.ok ? 'ok' : r.error.code).toBe('FORMAT_UNSUPPORTED');
  });

  it('BINDING_MISMATCH when the attested ID names another key', () => {
    const r = verifyMarvellBundle(value(fromAzureKeyAttestation(azure({ id: 'https://contoso.managedhsm.azure.net/keys/other/0123456789abcdef' }))), testAnchors(), AT);
    expect(r.verdict).toBe('invalid');
    expect(r.failures.map((f) => f.code)).toEqual(['BINDING_MISMATCH', 'BINDING_MISMATCH']);
  });

  it('OBJECTS_DIFFER when the public-key attestation is about another key', () => {
    const r = verifyMarvellBundle(value(fromAzureKeyAttestation(azure({ publicOf: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey }))), testAnchors(), AT);
    expect(r.failures.map((f) => f.code)).toEqual(['OBJECTS_DIFFER']);
    expect(r.verdict).toBe('invalid');
  });

  it('DECODE_FAILED for a blob that is not base64url', () => {
    const doc = azure();
    doc.attributes.attestation.privateKeyAttestation = 'not/base64url+';
    const r = fromAzureKeyAttestation(doc);
    expect(r.ok ? 'ok' : r.error.code).toBe('DECODE_FAILED');
  });

  it('accepts a gzip-compressed blob as well as a raw one', () => {
    const doc = azure();
    const raw = Buffer.from(doc.attributes.attestation.privateKeyAttestation, 'base64url');
    doc.attributes.attestation.privateKeyAttestation = gzipSync(raw).toString('base64url');
    expect(verifyMarvellBundle(value(fromAzureKeyAttestation(doc)), testAnchors(), AT).verdict).toBe('valid');
  });
});
