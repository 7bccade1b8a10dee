import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { aesEcbKcv } from '../kcv.ts';
import { buildBlob, goodBundle, keyPairObjects, testAnchors } from '../marvell/testing.ts';
import { verifyMarvell } from '../marvell/verify.ts';
import { attestKey, attestPkcs11 } from './residency.ts';
import { openPkcs11Session, Pkcs11CallError, type Pkcs11Session } from './session.ts';
import { createSoftHsmToken, missingSoftHsmMustFail, MISSING_SOFTHSM_MESSAGE, SOFTHSM_MODULE, softHsmAvailable, type SoftHsmToken } from './testing.ts';

const available = softHsmAvailable();

describe('SoftHSM2 availability', () => {
  it.runIf(!available && missingSoftHsmMustFail())('is required in CI', () => {
    throw new Error(MISSING_SOFTHSM_MESSAGE);
  });
  it.runIf(!available && !missingSoftHsmMustFail())(`skips the live PKCS#11 suite: ${MISSING_SOFTHSM_MESSAGE}`, () => {
    expect(missingSoftHsmMustFail()).toBe(false);
  });
});

describe.runIf(available)('live PKCS#11 residency checks against SoftHSM2', () => {
  let token: SoftHsmToken;
  let session: Pkcs11Session;

  beforeEach(() => {
    token = createSoftHsmToken(`kw-${randomBytes(3).toString('hex')}`);
    const opened = openPkcs11Session({ modulePath: SOFTHSM_MODULE, slot: { label: token.label }, pin: token.pin });
    if (!opened.ok) throw new Error(opened.error.message);
    session = opened.value;
  });
  afterEach(() => {
    session.close();
    token.remove();
  });

  it('passes generated-in-hsm for an AES key generated in the token, with the token check value as KCV', () => {
    session.generateAesKey(32, { label: 'gen', token: true, extractable: false, sensitive: true });
    const r = attestKey(session, { label: 'gen' }, { policy: 'generated-in-hsm' });
    expect(r.verdict).toBe('pass');
    expect(r.evidence.key).toMatchObject({ class: 'secret', keyType: 'aes', valueLen: 32, local: true, neverExtractable: true, extractable: false, sensitive: true, alwaysSensitive: true, keyGenMechanism: '0x1080' });
    expect(r.evidence.kcv).toMatchObject({ algorithm: 'aes-ecb', source: 'check-value' });
    expect(r.evidence.kcv?.value).toMatch(/^[0-9a-f]{6}$/);
    expect(r.warnings).toEqual([]);
  });

  it('fails generated-in-hsm for an imported key but passes byok-imported when the provider KCV matches, and policy-fails when it does not', () => {
    const value = Buffer.from([...Array(32).keys()]);
    session.importAesKey(value, { label: 'imp', token: true, extractable: false, sensitive: true });
    const generated = attestKey(session, { label: 'imp' }, { policy: 'generated-in-hsm' });
    expect(generated.verdict).toBe('policy-fail');
    expect(generated.evidence.key).toMatchObject({ local: false, neverExtractable: false, keyGenMechanism: 'unavailable' });
    expect(generated.policy?.failures.map((f) => f.code)).toEqual(expect.arrayContaining(['POLICY_KEY_NOT_LOCAL', 'POLICY_KEY_WAS_EXTRACTABLE']));

    // Known answer (reference §6.2): AES-256 key 00..1f has PKCS#11 KCV f29000.
    const byok = attestKey(session, { label: 'imp' }, { policy: 'byok-imported', providerKcv: { value: Buffer.from('f29000', 'hex') } });
    expect(byok.evidence.kcv).toEqual({ algorithm: 'aes-ecb', value: 'f29000', source: 'check-value' });
    expect(byok.evidence.providerKcv).toEqual({ algorithm: 'aes-ecb', value: 'f29000', comparison: 'match' });
    expect(byok.verdict).toBe('pass');

    const wrong = attestKey(session, { label: 'imp' }, { policy: 'byok-imported', providerKcv: { value: aesEcbKcv(randomBytes(32)) } });
    expect(wrong.verdict).toBe('policy-fail');
    expect(wrong.policy?.failures.map((f) => f.code)).toEqual(['POLICY_KCV_MISMATCH']);
  });

  it('reports a provider KCV mismatch under generated-in-hsm too: the cloud holds another key', () => {
    session.generateAesKey(32, { label: 'gen', token: true, extractable: false, sensitive: true });
    const r = attestKey(session, { label: 'gen' }, { policy: 'generated-in-hsm', providerKcv: { value: Buffer.from('000000', 'hex') } });
    expect(r.verdict).toBe('policy-fail');
    expect(r.policy?.failures.map((f) => f.code)).toEqual(['POLICY_KCV_MISMATCH']);
  });

  it('computes the KCV inside the HSM for an unwrapped key whose CHECK_VALUE is empty, and it matches the key value', () => {
    const kek = session.generateAesKey(32, { label: 'kek', token: true, extractable: false, sensitive: true, wrap: true });
    const value = randomBytes(32);
    const temp = session.importAesKey(value, { label: 'temp', extractable: true, sensitive: false });
    const wrapped = session.wrapKey(kek, temp);
    session.unwrapAesKey(kek, wrapped, { label: 'unwrapped', token: true, extractable: false, sensitive: true });
    const r = attestKey(session, { label: 'unwrapped' }, { policy: 'byok-imported', providerKcv: { value: aesEcbKcv(value) } });
    expect(r.evidence.key?.checkValue).toBe('');
    expect(r.evidence.key?.local).toBe(false);
    expect(r.evidence.kcv).toEqual({ algorithm: 'aes-ecb', value: aesEcbKcv(value).toString('hex'), source: 'computed-in-hsm' });
    expect(r.warnings.map((w) => w.code)).toEqual(['PKCS11_KCV_COMPUTED']);
    expect(r.verdict).toBe('pass');
  });

  it('warns that the KCV is unavailable when CHECK_VALUE is empty and the key may not encrypt, and byok-imported cannot pass', () => {
    const kek = session.generateAesKey(32, { label: 'kek', token: true, extractable: false, sensitive: true, wrap: true });
    const temp = session.importAesKey(randomBytes(32), { label: 'temp', extractable: true, sensitive: false });
    session.unwrapAesKey(kek, session.wrapKey(kek, temp), { label: 'no-encrypt', token: true, extractable: false, sensitive: true, encrypt: false });
    const r = attestKey(session, { label: 'no-encrypt' }, { policy: 'byok-imported', providerKcv: { value: Buffer.from('abcdef', 'hex') } });
    expect(r.warnings.map((w) => w.code)).toEqual(['PKCS11_KCV_UNAVAILABLE']);
    expect(r.warnings[0]?.message).toContain('CKR_KEY_FUNCTION_NOT_PERMITTED');
    expect(r.verdict).toBe('policy-fail');
    expect(r.policy?.failures.map((f) => f.code)).toEqual(['POLICY_KCV_UNAVAILABLE']);
  });

  it('flags a key that was once extractable (NEVER_EXTRACTABLE false), and the token refuses to make it extractable again', () => {
    const h = session.generateAesKey(32, { label: 'once', token: true, extractable: true, sensitive: false });
    session.lockDown(h);
    const r = attestKey(session, { label: 'once' }, { policy: 'generated-in-hsm' });
    expect(r.evidence.key).toMatchObject({ extractable: false, neverExtractable: false, local: true, sensitive: true, alwaysSensitive: false });
    expect(r.verdict).toBe('policy-fail');
    expect(r.policy?.failures.map((f) => f.code)).toEqual(['POLICY_KEY_WAS_EXTRACTABLE', 'POLICY_KEY_WAS_NOT_SENSITIVE']);
    // An extractable key passes neither policy.
    session.generateAesKey(32, { label: 'open', token: true, extractable: true, sensitive: true });
    expect(attestKey(session, { label: 'open' }, { policy: 'byok-imported' }).policy?.failures.map((f) => f.code)).toContain('POLICY_KEY_EXTRACTABLE');
  });

  for (const spec of [{ kind: 'ec', curve: 'P-256' }, { kind: 'rsa', bits: 2048 }] as const) {
    it(`proves possession of a generated ${spec.kind.toUpperCase()} key by a signature over a fresh nonce verified with the token public key`, () => {
      session.generateKeyPair(spec, 'pair', Buffer.from('a1', 'hex'));
      const r = attestKey(session, { label: 'pair' }, { policy: 'generated-in-hsm' });
      expect(r.verdict).toBe('pass');
      expect(r.evidence.key).toMatchObject({ class: 'private', keyType: spec.kind, local: true, neverExtractable: true });
      if (spec.kind === 'rsa') expect(r.evidence.key?.modulusBits).toBe(2048);
      else expect(r.evidence.key?.curve).toBe('P-256');
      expect(r.evidence.possession).toMatchObject({ scheme: spec.kind === 'ec' ? 'ecdsa-raw' : 'rsa-pkcs1-sha256', verified: true });
      expect(r.evidence.spkiSha256).toMatch(/^[0-9a-f]{64}$/);
      expect(r.evidence.kcv).toMatchObject({ algorithm: 'spki-sha1', source: 'public-key' });
      // The provider KCV of a key pair is SHA-1 of the SPKI by default.
      const match = attestKey(session, { label: 'pair' }, { policy: 'byok-imported', providerKcv: { value: Buffer.from(r.evidence.kcv!.value, 'hex') } });
      expect(match.evidence.providerKcv?.comparison).toBe('match');
    });
  }

  it('fails with PKCS11_PUBLIC_KEY_MISMATCH when the provider public key is not the token public key', () => {
    session.generateKeyPair({ kind: 'ec', curve: 'P-256' }, 'pair', Buffer.from('a2', 'hex'));
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
    const r = attestKey(session, { label: 'pair' }, { spki: other });
    expect(r.verdict).toBe('fail');
    expect(r.failures.map((f) => f.code)).toEqual(['PKCS11_PUBLIC_KEY_MISMATCH']);
  });

  it('fails with PKCS11_POSSESSION_FAILED when the token cannot sign for the given public key, and warns when no public key is known', () => {
    const pair = session.generateKeyPair({ kind: 'ec', curve: 'P-256' }, 'pair', Buffer.from('a3', 'hex'));
    session.destroy(pair.publicKey);
    const none = attestKey(session, { label: 'pair' }, { policy: 'generated-in-hsm' });
    expect(none.warnings.map((w) => w.code)).toEqual(['PKCS11_POSSESSION_UNAVAILABLE']);
    expect(none.evidence.possession).toBeUndefined();
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
    const r = attestKey(session, { label: 'pair' }, { spki: other });
    expect(r.verdict).toBe('fail');
    expect(r.failures.map((f) => f.code)).toEqual(['PKCS11_POSSESSION_FAILED']);
    expect(r.evidence.possession?.verified).toBe(false);
  });

  it('fails with PKCS11_KEY_NOT_FOUND and PKCS11_KEY_AMBIGUOUS, and selects by id', () => {
    expect(attestKey(session, { label: 'nope' }).failures.map((f) => f.code)).toEqual(['PKCS11_KEY_NOT_FOUND']);
    session.generateAesKey(16, { label: 'twin', id: Buffer.from('01', 'hex'), token: true, extractable: false, sensitive: true });
    session.generateAesKey(16, { label: 'twin', id: Buffer.from('02', 'hex'), token: true, extractable: false, sensitive: true });
    expect(attestKey(session, { label: 'twin' }).failures.map((f) => f.code)).toEqual(['PKCS11_KEY_AMBIGUOUS']);
    const byId = attestKey(session, { id: Buffer.from('02', 'hex') });
    expect(byId.verdict).toBe('pass');
    expect(byId.evidence.key).toMatchObject({ id: '02', valueLen: 16 });
  });

  it('names the CKR code when a PKCS#11 call fails mid-check (PKCS11_CALL_FAILED), without throwing', () => {
    session.generateAesKey(32, { label: 'gen', token: true, extractable: false, sensitive: true });
    const other = openPkcs11Session({ modulePath: SOFTHSM_MODULE, slot: { label: token.label }, pin: token.pin });
    if (!other.ok) throw new Error(other.error.message);
    other.value.close();
    const r = attestKey(other.value, { label: 'gen' });
    expect(r.verdict).toBe('fail');
    expect(r.failures.map((f) => f.code)).toEqual(['PKCS11_CALL_FAILED']);
    expect(r.failures[0]?.message).toMatch(/returned CKR_[A-Z_]+/);
  });

  it('keeps the CKR names of refused operations: wrapping a non-extractable key gives CKR_KEY_UNEXTRACTABLE', () => {
    const kek = session.generateAesKey(32, { label: 'kek', token: true, extractable: false, sensitive: true, wrap: true });
    const locked = session.generateAesKey(32, { label: 'locked', token: true, extractable: false, sensitive: true });
    expect(() => session.wrapKey(kek, locked)).toThrow(Pkcs11CallError);
    try {
      session.wrapKey(kek, locked);
    } catch (err) {
      expect((err as Pkcs11CallError).ckr).toBe('CKR_KEY_UNEXTRACTABLE');
    }
  });
});

describe.runIf(available)('opening a PKCS#11 session', () => {
  let token: SoftHsmToken;
  beforeEach(() => {
    token = createSoftHsmToken(`kw-${randomBytes(3).toString('hex')}`);
  });
  afterEach(() => token.remove());

  it('fails with PKCS11_MODULE_UNAVAILABLE, PKCS11_SLOT_NOT_FOUND or PKCS11_LOGIN_FAILED, never with the PIN in the message', () => {
    const key = { label: 'k' };
    const noModule = attestPkcs11({ modulePath: '/nonexistent/libpkcs11.so', slot: { index: 0 }, pin: token.pin, key });
    expect(noModule.failures.map((f) => f.code)).toEqual(['PKCS11_MODULE_UNAVAILABLE']);
    const noSlot = attestPkcs11({ modulePath: SOFTHSM_MODULE, slot: { label: 'no-such-token' }, pin: token.pin, key });
    expect(noSlot.failures.map((f) => f.code)).toEqual(['PKCS11_SLOT_NOT_FOUND']);
    const badPin = attestPkcs11({ modulePath: SOFTHSM_MODULE, slot: { index: 0 }, pin: 'wrong-pin-4711', key });
    expect(badPin.verdict).toBe('fail');
    expect(badPin.failures.map((f) => f.code)).toEqual(['PKCS11_LOGIN_FAILED']);
    expect(badPin.failures[0]?.message).toContain('CKR_PIN_INCORRECT');
    expect(JSON.stringify(badPin)).not.toContain('wrong-pin-4711');
  });

  it('selects the slot by index, by slot id and by token label alike', () => {
    const byIndex = openPkcs11Session({ modulePath: SOFTHSM_MODULE, slot: { index: 0 }, pin: token.pin });
    if (!byIndex.ok) throw new Error(byIndex.error.message);
    const { slotId, tokenLabel } = byIndex.value;
    byIndex.value.close();
    expect(tokenLabel).toBe(token.label);
    const byId = openPkcs11Session({ modulePath: SOFTHSM_MODULE, slot: { id: slotId }, pin: token.pin });
    expect(byId.ok && byId.value.tokenLabel).toBe(token.label);
    if (byId.ok) byId.value.close();
  });
});

describe.runIf(available)('BYOK tie-in: a provider attestation bound to the key pair held in the customer HSM', () => {
  it('verifies and binds a Marvell attestation of the SoftHSM2 public key, and refuses one of another key with BINDING_MISMATCH', () => {
    const token = createSoftHsmToken(`kw-${randomBytes(3).toString('hex')}`);
    const opened = openPkcs11Session({ modulePath: SOFTHSM_MODULE, slot: { label: token.label }, pin: token.pin });
    if (!opened.ok) throw new Error(opened.error.message);
    try {
      opened.value.generateKeyPair({ kind: 'ec', curve: 'P-256' }, 'byok', Buffer.from('b1', 'hex'));
      const live = attestKey(opened.value, { label: 'byok' });
      expect(live.evidence.possession?.verified).toBe(true);
      const spkiDer = Buffer.from(live.evidence.spki!, 'base64');
      const hsmPublicKey = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
      const at = new Date('2026-06-01T00:00:00Z');
      // As if the cloud provider attested the key it holds: the same public key.
      const provider = verifyMarvell({ attestation: buildBlob(keyPairObjects(hsmPublicKey), { gzip: true }), certificates: goodBundle(), anchors: testAnchors(), now: at, expectedKey: { spkiDer } });
      expect(provider.verdict).toBe('valid');
      expect(provider.evidence?.key?.ekcv).toBe(live.evidence.spkiSha256);
      const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
      const wrong = verifyMarvell({ attestation: buildBlob(keyPairObjects(otherKey), { gzip: true }), certificates: goodBundle(), anchors: testAnchors(), now: at, expectedKey: { spkiDer } });
      expect(wrong.failures.map((f) => f.code)).toContain('BINDING_MISMATCH');
    } finally {
      opened.value.close();
      token.remove();
    }
  });
});
