import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ATTR } from './attributes.ts';
import { runMarvell, type MarvellRunInput } from './run.ts';
import { GENERATED, IMPORTED, buildBlob, goodBundle, keyPairObjects, testAnchors, type ResidencyFlags, type TestAttr } from './testing.ts';

const AT = new Date('2025-06-01T00:00:00Z');
const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const kid = 'https://contoso.managedhsm.azure.net/keys/app-key/0123456789abcdef';

function azureJson(flags: ResidencyFlags): Buffer {
  const id = Buffer.alloc(128);
  id.write(kid, 'latin1');
  const [pub, priv] = keyPairObjects(key.publicKey, flags).map((o): TestAttr[] => [...o, [ATTR.ID, id]]);
  const jwk = key.publicKey.export({ format: 'jwk' });
  return Buffer.from(
    JSON.stringify({
      key: { kid, kty: 'EC-HSM', crv: 'P-256', x: jwk.x, y: jwk.y },
      attributes: {
        attestation: {
          version: 'MRVL-1',
          certificatePemFile: Buffer.from(goodBundle().join('\n')).toString('base64url'),
          privateKeyAttestation: buildBlob([priv!]).toString('base64url'),
          publicKeyAttestation: buildBlob([pub!]).toString('base64url'),
        },
      },
    }),
  );
}

const run = (over: Partial<MarvellRunInput>) => {
  const r = runMarvell({ attestation: azureJson(GENERATED), attestationName: 'key-attestation.json', anchors: testAnchors(), now: AT, ...over });
  if (!r.ok) throw new Error(r.error);
  return r.value;
};

describe('attest marvell runs', () => {
  it('recognise an Azure key bundle, verify both blobs, bind to its JWK and record the key by its kid', () => {
    const r = run({ policy: 'generated-in-hsm' });
    expect(r).toMatchObject({ format: 'marvell-azure', keyId: kid, outcome: 'pass', policy: 'generated-in-hsm', failures: [], policyFailures: [] });
    expect(r.checks).toContainEqual({ check: 'privateKeyAttestation: binding', outcome: 'pass' });
    expect(r.checks).toContainEqual({ check: 'publicKeyAttestation: signature', outcome: 'pass' });
    expect(r.checks.at(-1)).toEqual({ check: 'same key in every blob', outcome: 'pass' });
    expect(r.warnings).toEqual([]);
    expect(r.summary).toMatchObject({ key: 'private EC P-256', binding: 'ekcv-match' });
  });

  it('policy-fail an imported key under generated-in-hsm, judging the private-key blob', () => {
    const r = run({ attestation: azureJson(IMPORTED), policy: 'generated-in-hsm' });
    expect(r.outcome).toBe('policy-fail');
    expect(r.policyFailures.map((f) => f.code)).toEqual(['POLICY_KEY_WAS_EXTRACTABLE', 'POLICY_KEY_NOT_LOCAL', 'POLICY_KEY_WAS_NOT_SENSITIVE']);
  });

  it('fail, without consulting the policy, an input whose vendor JSON is incomplete', () => {
    const r = run({ attestation: Buffer.from(JSON.stringify({ key: {}, attributes: { attestation: { version: 'MRVL-1' } } })), policy: 'generated-in-hsm', keyId: 'k' });
    expect(r).toMatchObject({ outcome: 'fail', keyId: 'k', policyFailures: [] });
    expect(r.failures.map((f) => f.code)).toEqual(['DECODE_FAILED']);
    expect(r.checks[0]).toEqual({ check: 'input', outcome: 'fail' });
  });

  it('refuse JSON that does not parse, and a raw blob without certificates', () => {
    expect(runMarvell({ attestation: Buffer.from('{"key": '), attestationName: 'x.json', anchors: testAnchors(), now: AT }).ok).toBe(false);
    expect(runMarvell({ attestation: buildBlob(keyPairObjects(key.publicKey)), attestationName: 'x.dat', anchors: testAnchors(), now: AT }).ok).toBe(false);
  });
});
