import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadAnchorDir } from './anchors.ts';
import { aesCmacKcv, aesEcbKcv, spkiSha1Kcv } from './kcv.ts';
import { verifyMarvell, type MarvellEvidence } from './marvell/verify.ts';
import { GENERATED, IMPORTED, buildBlob, goodBundle, keyPairObjects, secretObject, testAnchors, type ResidencyFlags } from './marvell/testing.ts';
import { attestationOutcome, evaluatePolicy } from './policy.ts';

const AT = new Date('2025-06-01T00:00:00Z');
const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

function evidenceOf(objects: Parameters<typeof buildBlob>[0]): MarvellEvidence {
  const r = verifyMarvell({ attestation: buildBlob(objects), certificates: goodBundle(), anchors: testAnchors(), now: AT });
  if (r.verdict !== 'valid' || !r.evidence) throw new Error(JSON.stringify(r.failures));
  return r.evidence;
}

const aesEvidence = (flags: ResidencyFlags) => evidenceOf(secretObject(aesEcbKcv(KEY), flags));
const codes = (r: ReturnType<typeof evaluatePolicy>) => r.failures.map((f) => f.code);

describe('generated-in-hsm', () => {
  it('allows a key generated in the HSM, never extractable and always sensitive', () => {
    expect(evaluatePolicy('generated-in-hsm', aesEvidence(GENERATED))).toMatchObject({ outcome: 'allowed', failures: [] });
    expect(evaluatePolicy('generated-in-hsm', evidenceOf(keyPairObjects(ec.publicKey))).outcome).toBe('allowed');
  });

  it('allows the real Google EC sample (judging the private object, not the extractable public one)', () => {
    const anchors = loadAnchorDir();
    if (!anchors.ok) throw new Error(anchors.error.message);
    const dir = new URL('./marvell/fixtures/gcp-cloud-hsm/', import.meta.url);
    const r = verifyMarvell({ attestation: readFileSync(new URL('ec.dat', dir)), certificates: readFileSync(new URL('ec.certs', dir), 'utf8'), anchors: anchors.value, now: AT });
    expect(r.evidence!.objects[0]!.extractable).toBe(true);
    expect(evaluatePolicy('generated-in-hsm', r.evidence!).outcome).toBe('allowed');
  });

  it('POLICY_KEY_NOT_LOCAL, POLICY_KEY_WAS_EXTRACTABLE and POLICY_KEY_WAS_NOT_SENSITIVE for an imported key', () => {
    const r = evaluatePolicy('generated-in-hsm', aesEvidence(IMPORTED));
    expect(r.outcome).toBe('denied');
    expect(codes(r)).toEqual(['POLICY_KEY_WAS_EXTRACTABLE', 'POLICY_KEY_NOT_LOCAL', 'POLICY_KEY_WAS_NOT_SENSITIVE']);
  });

  it('POLICY_KEY_EXTRACTABLE and POLICY_KEY_NOT_SENSITIVE for an exportable, readable key', () => {
    const r = evaluatePolicy('generated-in-hsm', aesEvidence({ ...GENERATED, extractable: true, sensitive: false }));
    expect(codes(r)).toEqual(['POLICY_KEY_EXTRACTABLE', 'POLICY_KEY_NOT_SENSITIVE']);
  });

  it('POLICY_NO_KEY_OBJECT: an attestation of a public key only', () => {
    const [pub] = keyPairObjects(ec.publicKey);
    expect(codes(evaluatePolicy('generated-in-hsm', evidenceOf([pub!])))).toEqual(['POLICY_NO_KEY_OBJECT']);
    expect(codes(evaluatePolicy('byok-imported', { key: undefined }))).toEqual(['POLICY_NO_KEY_OBJECT']);
  });
});

describe('byok-imported', () => {
  it("allows LOCAL=0 and NEVER_EXTRACTABLE=0 when the attested KCV matches the customer's key", () => {
    const r = evaluatePolicy('byok-imported', aesEvidence(IMPORTED), { customerKcv: { algorithm: 'aes-ecb', value: aesEcbKcv(KEY) } });
    expect(r).toMatchObject({ outcome: 'allowed', kcv: 'match', failures: [] });
  });

  it('matches an asymmetric key by the SHA-1 SPKI KCV', () => {
    const spki = ec.publicKey.export({ type: 'spki', format: 'der' });
    const ev = evidenceOf(keyPairObjects(ec.publicKey, IMPORTED));
    expect(evaluatePolicy('byok-imported', ev, { customerKcv: { algorithm: 'spki-sha1', value: spkiSha1Kcv(spki) } }).outcome).toBe('allowed');
  });

  it('POLICY_KCV_MISMATCH: the HSM holds another key than the customer imported', () => {
    const r = evaluatePolicy('byok-imported', aesEvidence(IMPORTED), { customerKcv: { algorithm: 'aes-ecb', value: aesEcbKcv(Buffer.alloc(32, 7)) } });
    expect(r).toMatchObject({ outcome: 'denied', kcv: 'mismatch' });
    expect(codes(r)).toEqual(['POLICY_KCV_MISMATCH']);
  });

  it('POLICY_KCV_UNAVAILABLE: no customer KCV, or one of another algorithm (CMAC vs ECB)', () => {
    expect(codes(evaluatePolicy('byok-imported', aesEvidence(IMPORTED)))).toEqual(['POLICY_KCV_UNAVAILABLE']);
    const cmac = evaluatePolicy('byok-imported', aesEvidence(IMPORTED), { customerKcv: { algorithm: 'aes-cmac', value: aesCmacKcv(KEY) } });
    expect(cmac.kcv).toBe('incomparable');
    expect(codes(cmac)).toEqual(['POLICY_KCV_UNAVAILABLE']);
  });

  it('still requires EXTRACTABLE=0 and SENSITIVE=1', () => {
    const r = evaluatePolicy('byok-imported', aesEvidence({ ...IMPORTED, extractable: true }), { customerKcv: { algorithm: 'aes-ecb', value: aesEcbKcv(KEY) } });
    expect(codes(r)).toEqual(['POLICY_KEY_EXTRACTABLE']);
  });
});

describe('attestationOutcome', () => {
  it('keeps "invalid" apart from "valid but not allowed"', () => {
    const denied = evaluatePolicy('generated-in-hsm', aesEvidence(IMPORTED));
    const allowed = evaluatePolicy('generated-in-hsm', aesEvidence(GENERATED));
    expect(attestationOutcome('invalid', allowed)).toBe('fail');
    expect(attestationOutcome('valid', denied)).toBe('policy-fail');
    expect(attestationOutcome('valid', allowed)).toBe('pass');
    expect(attestationOutcome('valid')).toBe('pass');
  });
});
