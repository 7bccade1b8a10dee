import { X509Certificate } from 'node:crypto';
import { issue, type Issue } from './codes.ts';
import type { TrustAnchor } from './anchors.ts';
import { spkiSha256 } from './kcv.ts';
import { spkiOfCertificate } from './spki.ts';

/**
 * Certificate chain linking against pinned trust anchors, with "now" injected.
 *
 * - Nothing in a bundle is trusted because it is there. A self-signed bundle certificate counts as
 *   a root only when its key hashes to a pinned anchor; it then adds a validity window to that key.
 * - A link child <- issuer holds when the names match (X509Certificate.checkIssued) AND the child's
 *   signature verifies with the issuer's key. Every candidate is tried, so a decoy with the right
 *   name listed first cannot hide the real issuer.
 * - Validity is checked for every certificate on a path; a pinned root key is valid when at least
 *   one of its certificates is.
 * - v1 certificates (no basicConstraints) may appear only under anchors flagged allowLegacyV1;
 *   a v3 certificate must have CA:TRUE to issue.
 *
 * @example const bundle = parseBundle(pemText); const paths = pathsBelow(resolveRoots(anchors, bundle.value).roots, pool, 2)
 */
export interface BundleCert {
  cert: X509Certificate;
  /** Position in the bundle as given (0-based), for messages. */
  index: number;
  subject: string;
  spkiSha256: string;
  /** X.509 v1: the TBSCertificate has no [0] version field. */
  v1: boolean;
  selfSigned: boolean;
}

export type BundleResult = { ok: true; value: BundleCert[] } | { ok: false; error: Issue };

/** Bundles larger than this are rejected; real Marvell bundles hold 4 to 6 certificates. */
export const MAX_BUNDLE_CERTS = 32;

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** One-line subject for messages ("C=US, O=..., CN=..."). */
export function subjectLine(cert: X509Certificate): string {
  return cert.subject.split('\n').join(', ');
}

// DER: Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] EXPLICIT version OPTIONAL, ... } }
// node:crypto exposes no version accessor, so read the first tag inside the TBSCertificate.
export function isV1(cert: X509Certificate): boolean {
  const der = cert.raw;
  let pos = 0;
  const header = (): void => {
    if (der[pos] !== 0x30) throw new Error('not a DER SEQUENCE');
    const first = der[pos + 1]!;
    pos += 2 + (first & 0x80 ? first & 0x7f : 0);
  };
  header(); // Certificate
  header(); // TBSCertificate
  return der[pos] !== 0xa0;
}

function toBundleCert(cert: X509Certificate, index: number): BundleCert {
  const selfSigned = cert.checkIssued(cert) && cert.verify(cert.publicKey);
  return {
    cert,
    index,
    subject: subjectLine(cert),
    spkiSha256: spkiSha256(spkiOfCertificate(cert)).toString('hex'),
    v1: isV1(cert),
    selfSigned,
  };
}

/** Parses a PEM bundle (or a list of PEM strings). Any unparseable block fails the bundle. */
export function parseBundle(input: string | readonly string[]): BundleResult {
  const text = typeof input === 'string' ? input : input.join('\n');
  const blocks = text.match(PEM_CERT) ?? [];
  if (blocks.length === 0) return { ok: false, error: issue('CERT_UNPARSEABLE', 'no PEM certificate in the bundle') };
  const begins = text.split('-----BEGIN CERTIFICATE-----').length - 1;
  if (begins !== blocks.length) {
    return { ok: false, error: issue('CERT_UNPARSEABLE', `${begins - blocks.length} BEGIN CERTIFICATE markers have no matching END marker`) };
  }
  if (blocks.length > MAX_BUNDLE_CERTS) {
    return { ok: false, error: issue('INPUT_TOO_LARGE', `bundle holds ${blocks.length} certificates; the limit is ${MAX_BUNDLE_CERTS}`) };
  }
  const out: BundleCert[] = [];
  for (const [i, pem] of blocks.entries()) {
    try {
      out.push(toBundleCert(new X509Certificate(pem), i));
    } catch (e) {
      return { ok: false, error: issue('CERT_UNPARSEABLE', `certificate #${i} in the bundle does not parse: ${(e as Error).message}`) };
    }
  }
  return { ok: true, value: out };
}

/** A pinned key together with every certificate known for it (anchor data plus bundle copies). */
export interface RootSet {
  anchor: TrustAnchor;
  certificates: X509Certificate[];
}

export interface ResolvedRoots {
  roots: RootSet[];
  /** Bundle certificates that are copies of pinned roots (same key, self-signed). */
  copies: BundleCert[];
  /** Self-signed bundle certificates named like a pinned root but with another key. */
  impostors: { cert: BundleCert; anchor: TrustAnchor }[];
  /** Bundle certificates that are neither: the untrusted pool chains are built from. */
  pool: BundleCert[];
}

export function resolveRoots(anchors: readonly TrustAnchor[], bundle: readonly BundleCert[]): ResolvedRoots {
  const roots: RootSet[] = anchors.map((anchor) => ({ anchor, certificates: [...anchor.certificates] }));
  const copies: BundleCert[] = [];
  const impostors: { cert: BundleCert; anchor: TrustAnchor }[] = [];
  const pool: BundleCert[] = [];
  for (const b of bundle) {
    const pinned = b.selfSigned ? roots.find((r) => r.anchor.spkiSha256 === b.spkiSha256) : undefined;
    if (pinned) {
      if (!pinned.certificates.some((c) => c.fingerprint256 === b.cert.fingerprint256)) pinned.certificates.push(b.cert);
      copies.push(b);
      continue;
    }
    const named = b.selfSigned ? anchors.find((a) => a.certificates.some((c) => c.subject === b.cert.subject)) : undefined;
    if (named) impostors.push({ cert: b, anchor: named });
    pool.push(b);
  }
  return { roots, copies, impostors, pool };
}

/** Name match and signature, both required. */
export function issuedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** A chain below a pinned key: certs[0] is issued by the root, certs[i+1] by certs[i]. */
export interface ChainPath {
  root: RootSet;
  certs: BundleCert[];
}

/**
 * Every path of exactly `depth` pool certificates below any of `roots`, trying every candidate at
 * every level (no first-match shortcut). A certificate appears at most once per path.
 */
export function pathsBelow(roots: readonly RootSet[], pool: readonly BundleCert[], depth: number): ChainPath[] {
  const out: ChainPath[] = [];
  const extend = (root: RootSet, path: BundleCert[]): void => {
    if (path.length === depth) {
      out.push({ root, certs: path });
      return;
    }
    const top = path[path.length - 1];
    for (const c of pool) {
      if (c.selfSigned || path.includes(c)) continue;
      const linked = top === undefined ? root.certificates.some((r) => issuedBy(c.cert, r)) : issuedBy(c.cert, top.cert);
      if (linked) extend(root, [...path, c]);
    }
  };
  for (const root of roots) extend(root, []);
  return out;
}

export type Validity = 'valid' | 'expired' | 'not-yet-valid';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Parses node's "Nov 19 13:55:25 2015 GMT" validity strings strictly. */
export function parseCertTime(s: string): Date {
  const m = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4}) GMT$/.exec(s);
  const month = m ? MONTHS.indexOf(m[1]!) : -1;
  if (!m || month < 0) throw new Error(`unexpected certificate time format: ${s}`);
  return new Date(Date.UTC(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])));
}

export function validityAt(cert: X509Certificate, now: Date): Validity {
  if (now.getTime() < parseCertTime(cert.validFrom).getTime()) return 'not-yet-valid';
  if (now.getTime() > parseCertTime(cert.validTo).getTime()) return 'expired';
  return 'valid';
}

function validityIssue(cert: X509Certificate, v: Validity, now: Date, what: string): Issue {
  return v === 'expired'
    ? issue('CHAIN_CERT_EXPIRED', `${what} expired on ${parseCertTime(cert.validTo).toISOString()} (now ${now.toISOString()})`, subjectLine(cert))
    : issue('CHAIN_CERT_NOT_YET_VALID', `${what} is valid only from ${parseCertTime(cert.validFrom).toISOString()} (now ${now.toISOString()})`, subjectLine(cert));
}

export interface PathCheck {
  failures: Issue[];
  warnings: Issue[];
}

/**
 * Checks a path at `now`: the root key has a valid certificate, every path certificate is inside
 * its validity window, v1 certificates only under legacy-flagged anchors, v3 issuers are CAs.
 */
export function checkPath(path: ChainPath, now: Date): PathCheck {
  const failures: Issue[] = [];
  const warnings: Issue[] = [];
  const rootStates = path.root.certificates.map((c) => ({ c, v: validityAt(c, now) }));
  if (!rootStates.some((s) => s.v === 'valid')) {
    const worst = rootStates.find((s) => s.v === 'expired') ?? rootStates[0]!;
    failures.push(validityIssue(worst.c, worst.v, now, `every certificate of pinned root ${path.root.anchor.id}; the latest`));
  } else {
    for (const s of rootStates) {
      if (s.v === 'expired') {
        warnings.push(
          issue(
            'ANCHOR_CERT_EXPIRED',
            `a certificate of pinned root ${path.root.anchor.id} expired on ${parseCertTime(s.c.validTo).toISOString()}; another certificate of the same key is valid, so the key is still trusted`,
            subjectLine(s.c),
          ),
        );
      }
    }
  }
  for (const [i, b] of path.certs.entries()) {
    const v = validityAt(b.cert, now);
    if (v !== 'valid') failures.push(validityIssue(b.cert, v, now, `certificate #${b.index} of the bundle`));
    if (b.v1 && !path.root.anchor.allowLegacyV1) {
      failures.push(issue('CHAIN_V1_NOT_ALLOWED', `certificate #${b.index} is X.509 v1 but anchor ${path.root.anchor.id} does not allow legacy v1 certificates`, b.subject));
    }
    const issues = i < path.certs.length - 1;
    if (issues && !b.v1 && !b.cert.ca) {
      failures.push(issue('CHAIN_ISSUER_NOT_CA', `certificate #${b.index} is v3 without basicConstraints CA:TRUE but issues another certificate`, b.subject));
    }
  }
  return { failures, warnings };
}
