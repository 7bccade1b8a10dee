import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Planted secrets for leak tests: distinctive random values a test hands to keywatch (tokens,
 * passwords, PINs, key material), then searches every log and output for, in the encodings a
 * leak takes (raw, JSON-escaped, URL-encoded, base64, base64url, hex).
 *
 * @example
 *   const token = plantSecret('http token', { prefix: 'tok-' });
 *   expect(findSecrets(stderr, [token])).toEqual([]);
 */
export interface PlantedSecret {
  /** What the secret is, for failure messages. */
  name: string;
  value: string;
}

/** A fresh secret: the prefix, then 24 random hex digits, so it cannot occur by chance. */
export function plantSecret(name: string, o: { prefix?: string; value?: string } = {}): PlantedSecret {
  return { name, value: o.value ?? `${o.prefix ?? 'kwsecret-'}${randomBytes(12).toString('hex')}` };
}

export interface SecretHit {
  name: string;
  form: string;
  /** Where it was found (a stream or file name). */
  where: string;
}

/** Base64 of the value as it appears inside a longer encoded text, at each of the three byte alignments. */
function base64Cores(value: Buffer, url: boolean): string[] {
  const out: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const enc = Buffer.concat([Buffer.alloc(shift), value]).toString(url ? 'base64url' : 'base64').replace(/=+$/, '');
    // Drop the characters mixed with the padding bytes before and with whatever follows after.
    const start = Math.ceil((shift * 4) / 3);
    const end = Math.floor(((shift + value.length) * 4) / 3);
    if (end - start >= 8) out.push(enc.slice(start, end));
  }
  return out;
}

/** The forms a leaked secret takes: raw, JSON-escaped, URL-encoded, base64, base64url, hex. */
export function secretForms(value: string): { form: string; text: string }[] {
  const bytes = Buffer.from(value, 'utf8');
  const forms: { form: string; text: string }[] = [
    { form: 'raw', text: value },
    { form: 'json', text: JSON.stringify(value).slice(1, -1) },
    { form: 'url', text: encodeURIComponent(value) },
    { form: 'hex', text: bytes.toString('hex') },
    { form: 'HEX', text: bytes.toString('hex').toUpperCase() },
    ...base64Cores(bytes, false).map((text) => ({ form: 'base64', text })),
    ...base64Cores(bytes, true).map((text) => ({ form: 'base64url', text })),
  ];
  // Multi-line values (PEM keys) also leak line by line: each long line counts.
  for (const line of value.split(/\r?\n/)) if (line !== value && line.length >= 24 && !line.startsWith('-----')) forms.push({ form: 'line', text: line });
  const seen = new Set<string>();
  return forms.filter((f) => f.text.length > 0 && !seen.has(f.text) && seen.add(f.text));
}

/** Every planted secret found in `text`, in any of its forms. */
export function findSecrets(text: string, secrets: readonly PlantedSecret[], where = 'output'): SecretHit[] {
  const hits: SecretHit[] = [];
  for (const s of secrets) {
    for (const f of secretForms(s.value)) if (text.includes(f.text)) hits.push({ name: s.name, form: f.form, where });
  }
  return hits;
}

/** The text of every file under `dir` (recursively), skipping paths `skip` accepts, keyed by path. */
export function filesUnder(dir: string, skip: (path: string) => boolean = () => false): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (skip(p)) continue;
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.set(p, readFileSync(p).toString('latin1'));
    }
  };
  walk(dir);
  return out;
}
