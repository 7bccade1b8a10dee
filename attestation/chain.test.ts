import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ANCHOR_DIR, loadAnchorDir, parseAnchors, type AnchorFile } from './anchors.ts';
import { MAX_BUNDLE_CERTS, checkPath, isV1, issuedBy, parseBundle, parseCertTime, pathsBelow, resolveRoots, validityAt, type BundleCert } from './chain.ts';
import { pkiPem, testAnchors } from './marvell/testing.ts';

const REAL = new URL('./marvell/fixtures/gcp-cloud-hsm/', import.meta.url);
const realBundle = (name: string) => readFileSync(new URL(`${name}.certs`, REAL), 'utf8');
const AT = new Date('2025-06-01T00:00:00Z');
const TODAY = new Date('2026-11-29T00:00:00Z');

function bundle(names: string[]): BundleCert[] {
  const r = parseBundle(names.map(pkiPem));
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

function shipped() {
  const r = loadAnchorDir();
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

describe('anchors', () => {
  it('loads the shipped anchors: Marvell LS1 (2015 and 2024 certificates, one key), LS2 and Google Hawksbill', () => {
    const anchors = shipped();
    expect(anchors.map((a) => a.id)).toEqual(['google-hawksbill-v1', 'marvell-ls1', 'marvell-ls2']);
    const ls1 = anchors.find((a) => a.id === 'marvell-ls1')!;
    expect(ls1.spkiSha256).toBe('78adcba1f38bee304bc44d6a086503f2940037d4b3d58a1bf66a3282ef58cd41');
    expect(ls1.certificates.map((c) => c.validTo)).toEqual(['Nov 16 13:55:25 2025 GMT', 'Jul 23 20:29:20 2034 GMT']);
    expect(ls1.allowLegacyV1).toBe(true);
    expect(anchors.find((a) => a.id === 'google-hawksbill-v1')!.allowLegacyV1).toBe(false);
    expect(DEFAULT_ANCHOR_DIR.endsWith('anchors/')).toBe(true);
  });

  it('ANCHORS_INVALID: a certificate that does not carry the pinned key, an unknown field, a duplicate id', () => {
    const good: AnchorFile = { id: 'x', title: 'x', role: 'manufacturer', spkiSha256: '0'.repeat(64), allowLegacyV1: false, source: 's', certificates: [pkiPem('mfr-root')] };
    const wrongPin = parseAnchors([good]);
    expect(wrongPin.ok ? 'ok' : wrongPin.error.code).toBe('ANCHORS_INVALID');
    const extra = parseAnchors([{ ...good, trusted: true }]);
    expect(extra.ok ? 'ok' : extra.error.message).toMatch(/trusted/);
    const pin = testAnchors({ owner: false })[0]!.spkiSha256;
    const twice = parseAnchors([{ ...good, spkiSha256: pin }, { ...good, spkiSha256: pin }]);
    expect(twice.ok ? 'ok' : twice.error.message).toMatch(/twice/);
    expect(loadAnchorDir('/nonexistent-dir').ok).toBe(false);
  });
});

describe('parseBundle', () => {
  it('parses the six real certificates and sees that the 2015 Marvell root and the card certificate are v1', () => {
    const r = parseBundle(realBundle('ec'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toHaveLength(6);
    // The partition certificate is v3 with no extensions; it issues nothing, so it needs no CA flag.
    expect(r.value.map((c) => c.v1)).toEqual([true, true, false, false, false, false]);
    expect(r.value.map((c) => c.selfSigned)).toEqual([true, false, false, true, false, false]);
  });

  it('CERT_UNPARSEABLE: no certificate at all, or a damaged PEM block', () => {
    const none = parseBundle('hello');
    expect(none.ok ? 'ok' : none.error.code).toBe('CERT_UNPARSEABLE');
    const pem = pkiPem('mfr-card');
    const damaged = pem.replace(/\n[A-Za-z0-9+/]{10}/, '\nAAAAAAAAAA');
    const r = parseBundle([pkiPem('mfr-root'), damaged]);
    expect(r.ok ? 'ok' : r.error.code).toBe('CERT_UNPARSEABLE');
  });

  it('INPUT_TOO_LARGE: more certificates than any real bundle needs', () => {
    const r = parseBundle(Array.from({ length: MAX_BUNDLE_CERTS + 1 }, () => pkiPem('mfr-card')));
    expect(r.ok ? 'ok' : r.error.code).toBe('INPUT_TOO_LARGE');
  });
});

describe('links', () => {
  it('requires the issuer name AND the signature', () => {
    const root = new X509Certificate(pkiPem('mfr-root'));
    const attacker = new X509Certificate(pkiPem('attacker-root'));
    const card = new X509Certificate(pkiPem('mfr-card'));
    expect(issuedBy(card, root)).toBe(true);
    // same name, other key: the name matches, the signature does not
    expect(card.checkIssued(attacker)).toBe(true);
    expect(issuedBy(card, attacker)).toBe(false);
    // right key, other name: the owner root signed nothing here
    expect(issuedBy(card, new X509Certificate(pkiPem('owner-root')))).toBe(false);
  });

  it('finds the real chain even when a decoy with the right names is listed first', () => {
    const anchors = testAnchors();
    const r = resolveRoots(anchors, bundle(['attacker-card', 'mfr-partition', 'mfr-card']));
    const paths = pathsBelow(r.roots.filter((x) => x.anchor.role === 'manufacturer'), r.pool, 2);
    expect(paths).toHaveLength(1);
    expect(paths[0]!.certs.map((c) => c.index)).toEqual([2, 1]);
  });

  it('never trusts a root because it is in the bundle; a same-name root with another key is an impostor', () => {
    const anchors = testAnchors();
    const r = resolveRoots(anchors, bundle(['attacker-root', 'attacker-card', 'attacker-partition']));
    expect(r.impostors.map((i) => i.anchor.id)).toEqual(['test-mfr']);
    expect(pathsBelow(r.roots, r.pool, 2)).toHaveLength(0);
  });

  it('treats a bundle copy of a pinned root as another certificate of the pinned key, not as pool material', () => {
    const r = resolveRoots(testAnchors(), bundle(['mfr-root', 'mfr-card']));
    expect(r.copies.map((c) => c.index)).toEqual([0]);
    expect(r.pool.map((c) => c.index)).toEqual([1]);
  });

  it('links the real manufacturer chain under the 2024 LS1 reissue when the bundle carries only the card and partition', () => {
    const real = parseBundle(realBundle('rsa'));
    if (!real.ok) throw new Error(real.error.message);
    const ls1 = shipped().filter((a) => a.id === 'marvell-ls1');
    const only2024 = [{ ...ls1[0]!, certificates: ls1[0]!.certificates.slice(1) }];
    const r = resolveRoots(only2024, real.value.slice(1, 3));
    const paths = pathsBelow(r.roots, r.pool, 2);
    expect(paths).toHaveLength(1);
    expect(checkPath(paths[0]!, TODAY).failures).toEqual([]);
  });
});

describe('checkPath', () => {
  const mfrPath = (names: string[], legacyV1 = true, now = AT) => {
    const r = resolveRoots(testAnchors({ legacyV1, owner: false }), bundle(names));
    const paths = pathsBelow(r.roots, r.pool, 2);
    expect(paths).toHaveLength(1);
    return checkPath(paths[0]!, now);
  };

  it('passes a v1 chain under an anchor flagged for legacy v1 certificates', () => {
    expect(mfrPath(['mfr-card', 'mfr-partition'])).toEqual({ failures: [], warnings: [] });
  });

  it('CHAIN_CERT_EXPIRED and CHAIN_CERT_NOT_YET_VALID name the certificate outside its window', () => {
    const expired = mfrPath(['mfr-card-expired', 'mfr-partition']).failures;
    expect(expired.map((f) => f.code)).toEqual(['CHAIN_CERT_EXPIRED']);
    expect(expired[0]!.certificate).toMatch(/HSM:TEST0001$/);
    expect(mfrPath(['mfr-card-not-yet-valid', 'mfr-partition']).failures.map((f) => f.code)).toEqual(['CHAIN_CERT_NOT_YET_VALID']);
    expect(mfrPath(['mfr-card', 'mfr-partition'], true, new Date('2041-01-01')).failures.map((f) => f.code)).toEqual([
      'CHAIN_CERT_EXPIRED',
      'CHAIN_CERT_EXPIRED',
      'CHAIN_CERT_EXPIRED',
    ]);
  });

  it('CHAIN_V1_NOT_ALLOWED: v1 certificates under an anchor not flagged for them', () => {
    expect(mfrPath(['mfr-card', 'mfr-partition'], false).failures.map((f) => f.code)).toEqual(['CHAIN_V1_NOT_ALLOWED', 'CHAIN_V1_NOT_ALLOWED']);
    expect(mfrPath(['mfr-card-v3', 'mfr-partition-v3'], false).failures).toEqual([]);
  });

  it('CHAIN_ISSUER_NOT_CA: a v3 certificate without CA:TRUE may not issue', () => {
    expect(mfrPath(['mfr-card-v3-not-ca', 'mfr-partition-v3'], false).failures.map((f) => f.code)).toEqual(['CHAIN_ISSUER_NOT_CA']);
  });

  it('reports the expired 2015 Cavium root as ANCHOR_CERT_EXPIRED when the 2024 reissue keeps the key valid, and fails without it', () => {
    const real = parseBundle(realBundle('ec'));
    if (!real.ok) throw new Error(real.error.message);
    const ls1 = shipped().filter((a) => a.id === 'marvell-ls1');
    let r = resolveRoots(ls1, real.value);
    let c = checkPath(pathsBelow(r.roots, r.pool, 2)[0]!, TODAY);
    expect(c.failures).toEqual([]);
    expect(c.warnings.map((w) => w.code)).toEqual(['ANCHOR_CERT_EXPIRED']);
    expect(c.warnings[0]!.certificate).toMatch(/CN=localca\.liquidsecurity\.cavium\.com/);
    const only2015 = [{ ...ls1[0]!, certificates: ls1[0]!.certificates.slice(0, 1) }];
    r = resolveRoots(only2015, real.value);
    c = checkPath(pathsBelow(r.roots, r.pool, 2)[0]!, TODAY);
    expect(c.failures.map((f) => f.code)).toEqual(['CHAIN_CERT_EXPIRED']);
    expect(c.failures[0]!.message).toMatch(/2025-11-16/);
    expect(checkPath(pathsBelow(r.roots, r.pool, 2)[0]!, AT).failures).toEqual([]);
  });
});

describe('time and version helpers', () => {
  it('parses node validity strings with one- and two-digit days', () => {
    expect(parseCertTime('Jan  1 00:00:00 2040 GMT').toISOString()).toBe('2040-01-01T00:00:00.000Z');
    expect(parseCertTime('Nov 19 13:55:25 2015 GMT').toISOString()).toBe('2015-11-19T13:55:25.000Z');
    expect(() => parseCertTime('2015-11-19')).toThrow();
  });

  it('includes both ends of the validity window', () => {
    const cert = new X509Certificate(pkiPem('mfr-card-expired'));
    expect(validityAt(cert, new Date('2020-01-01T00:00:00Z'))).toBe('valid');
    expect(validityAt(cert, new Date('2021-01-01T00:00:00Z'))).toBe('valid');
    expect(validityAt(cert, new Date('2021-01-01T00:00:01Z'))).toBe('expired');
    expect(validityAt(cert, new Date('2019-12-31T23:59:59Z'))).toBe('not-yet-valid');
  });

  it('tells v1 from v3 certificates', () => {
    expect(isV1(new X509Certificate(pkiPem('mfr-card')))).toBe(true);
    expect(isV1(new X509Certificate(pkiPem('owner-card')))).toBe(false);
  });
});
