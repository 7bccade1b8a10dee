import { X509Certificate } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { issue, type Issue } from './codes.ts';
import { spkiSha256 } from './kcv.ts';
import { spkiOfCertificate } from './spki.ts';

/**
 * Trust anchors are data (attestation/anchors/*.json), pinned by the SHA-256 of the root key's
 * DER SubjectPublicKeyInfo. Certificates are listed only to give that key a name and validity
 * windows: every listed certificate must carry the pinned key, so a reissued root (same key, new
 * dates) is added to `certificates` and chains issued under the old certificate keep verifying.
 *
 * @example const r = loadAnchorDir(DEFAULT_ANCHOR_DIR); if (r.ok) verifyMarvell({ anchors: r.value, ... })
 */
export const anchorFileSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
    title: z.string().min(1),
    role: z.enum(['manufacturer', 'owner']),
    spkiSha256: z.string().regex(/^[0-9a-f]{64}$/),
    // Marvell card and partition certificates are X.509 v1 (no extensions, no basicConstraints).
    allowLegacyV1: z.boolean().default(false),
    source: z.string().min(1),
    certificates: z.array(z.string().includes('-----BEGIN CERTIFICATE-----')).min(1),
  })
  .strict();

export type AnchorFile = z.infer<typeof anchorFileSchema>;

export interface TrustAnchor extends Omit<AnchorFile, 'certificates'> {
  certificates: X509Certificate[];
}

export const DEFAULT_ANCHOR_DIR = fileURLToPath(new URL('./anchors/', import.meta.url));

export type AnchorsResult = { ok: true; value: TrustAnchor[] } | { ok: false; error: Issue };

const invalid = (message: string): AnchorsResult => ({ ok: false, error: issue('ANCHORS_INVALID', message) });

/** Validates parsed anchor JSON documents; every certificate must hash to the pinned SPKI. */
export function parseAnchors(docs: unknown[]): AnchorsResult {
  const out: TrustAnchor[] = [];
  const ids = new Set<string>();
  for (const [i, doc] of docs.entries()) {
    const parsed = anchorFileSchema.safeParse(doc);
    if (!parsed.success) return invalid(`anchor #${i}: ${parsed.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
    const a = parsed.data;
    if (ids.has(a.id)) return invalid(`anchor id ${a.id} appears twice`);
    ids.add(a.id);
    const certificates: X509Certificate[] = [];
    for (const [j, pem] of a.certificates.entries()) {
      let cert: X509Certificate;
      let pin: string;
      try {
        cert = new X509Certificate(pem);
        pin = spkiSha256(spkiOfCertificate(cert)).toString('hex');
      } catch (e) {
        return invalid(`anchor ${a.id} certificate #${j} does not parse: ${(e as Error).message}`);
      }
      if (pin !== a.spkiSha256) return invalid(`anchor ${a.id} certificate #${j} carries key ${pin}, not the pinned ${a.spkiSha256}`);
      certificates.push(cert);
    }
    out.push({ ...a, certificates });
  }
  return { ok: true, value: out };
}

/** Reads every *.json file of a directory as one anchor (I/O at the edge; the rest is pure). */
export function loadAnchorDir(dir: string = DEFAULT_ANCHOR_DIR): AnchorsResult {
  let docs: unknown[];
  try {
    docs = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as unknown);
  } catch (e) {
    return invalid(`cannot read anchors from ${dir}: ${(e as Error).message}`);
  }
  return parseAnchors(docs);
}
