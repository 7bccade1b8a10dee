import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { systemClock } from '../../core/clock.ts';
import { KeywatchError } from '../../core/errors.ts';
import { ATTESTATION_CODES } from '../../attestation/codes.ts';
import type { KcvAlgorithm } from '../../attestation/kcv.ts';
import { POLICIES, type PolicyName } from '../../attestation/policy.ts';
import { spkiFromPem, spkiFromDer } from '../../attestation/spki.ts';
import { pinSource, slotSelector, type TokenFlags } from '../../attestation/pkcs11/cli-options.ts';
import { readPin } from '../../attestation/pkcs11/pin.ts';
import { pkcs11AttestationRow, recordPkcs11Attestation } from '../../attestation/pkcs11/record.ts';
import { attestPkcs11, type Pkcs11Attestation } from '../../attestation/pkcs11/residency.ts';
import { withStore, configFrom, type GlobalOptions } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { kcvComparisonEvent } from '../../attestation/pkcs11/kcv-event.ts';
import { ingestKeyEventRecords } from '../../attestation/probe/ingest.ts';

const EXIT_ATTEST_FAIL = EXIT.ATTESTATION_FAILED;
const EXIT_ATTEST_POLICY = EXIT.POLICY_DENIED;

const KCV_ALGORITHMS: KcvAlgorithm[] = ['aes-ecb', 'aes-cmac', 'tdes-ecb', 'spki-sha1', 'spki-sha256'];

interface Flags extends TokenFlags {
  label?: string;
  id?: string;
  policy?: PolicyName;
  providerKcv?: string;
  providerKcvAlgorithm?: KcvAlgorithm;
  providerKey?: string;
  tenant?: string;
  spki?: string;
  json?: boolean;
  record: boolean;
}

function formatText(r: Pkcs11Attestation): string {
  const k = r.evidence.key;
  const yn = (v: boolean | undefined) => (v === undefined ? '-' : v ? 'yes' : 'no');
  const lines = [`verdict      ${r.verdict}`, `token        ${r.evidence.tokenLabel || '-'} (slot ${r.evidence.slotId || '-'})`];
  if (k) {
    lines.push(
      `key          ${k.label} (${k.class} ${k.keyType}${k.valueLen ? `, ${k.valueLen * 8} bits` : k.modulusBits ? `, ${k.modulusBits} bits` : k.curve ? `, ${k.curve}` : ''}), id ${k.id || '-'}`,
      `residency    extractable ${yn(k.extractable)}, never-extractable ${yn(k.neverExtractable)}, local ${yn(k.local)}, sensitive ${yn(k.sensitive)}, always-sensitive ${yn(k.alwaysSensitive)}`,
    );
  }
  if (r.evidence.kcv) lines.push(`kcv          ${r.evidence.kcv.value} (${r.evidence.kcv.algorithm}, ${r.evidence.kcv.source})`);
  if (r.evidence.providerKcv) lines.push(`provider kcv ${r.evidence.providerKcv.value} (${r.evidence.providerKcv.algorithm}): ${r.evidence.providerKcv.comparison}`);
  if (r.evidence.possession) lines.push(`possession   ${r.evidence.possession.verified ? 'proven' : 'NOT proven'} (${r.evidence.possession.scheme} over a fresh nonce)`);
  if (r.evidence.spkiSha256) lines.push(`spki sha256  ${r.evidence.spkiSha256}`);
  if (r.policy) lines.push(`policy       ${r.policy.policy}: ${r.policy.outcome}`);
  for (const f of [...r.failures, ...(r.policy?.failures ?? [])]) lines.push(`  FAIL ${f.code}: ${f.message}`);
  for (const w of r.warnings) lines.push(`  warn ${w.code}: ${w.message}`);
  return lines.join('\n') + '\n';
}

function parseSpki(path: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new KeywatchError('INPUT_NOT_FOUND', `cannot read --spki ${path}`, { cause: err });
  }
  const text = bytes.toString('latin1');
  const r = text.includes('-----BEGIN') ? spkiFromPem(text) : spkiFromDer(bytes);
  if (!r.ok) throw new KeywatchError('USAGE', `--spki ${path}: ${r.error.message}`);
  return r.value;
}

/**
 * `keywatch attest pkcs11`: live residency check of one key on a PKCS#11 token. Exit 0 pass,
 * 7 fail (no valid evidence), 8 policy-fail (valid evidence the policy does not allow).
 *
 * @example keywatch attest pkcs11 --module /usr/lib/softhsm/libsofthsm2.so --token prod --pin-env HSM_PIN --label kek-1 --policy byok-imported --provider-kcv f29000
 */
export function pkcs11Subcommand(globals: () => GlobalOptions): Command {
  return new Command('pkcs11')
    .description('check where a key on a PKCS#11 token came from and whether it can leave (attributes, KCV, proof of possession)')
    .requiredOption('--module <path>', 'PKCS#11 module (shared library)')
    .option('--slot <index>', 'position of the slot among the slots with a token (0, 1, ...)')
    .option('--slot-id <id>', 'slot id as the module numbers it')
    .option('--token <label>', 'token label')
    .option('--pin-env <var>', 'environment variable holding the user PIN')
    .option('--pin-file <file>', 'file holding the user PIN (one line)')
    .option('--label <label>', 'key label (CKA_LABEL)')
    .option('--id <hex>', 'key id (CKA_ID) in hex')
    .addOption(new Option('--policy <policy>', 'residency policy to apply').choices([...POLICIES]))
    .option('--provider-kcv <hex>', "the cloud provider's key check value for its copy of the key")
    .addOption(new Option('--provider-kcv-algorithm <alg>', 'how the provider KCV was computed (default: aes-ecb for secret keys, spki-sha1 for key pairs)').choices(KCV_ALGORITHMS))
    .option('--spki <file>', "the provider's public key (PEM or DER SPKI) to tie the token's key pair to")
    .option('--provider-key <id>', "the provider's key (ARN, resource name, key URL): with --provider-kcv, the comparison is also stored as a key event, which the kcv-mismatch detector reads")
    .option('--tenant <tenant>', 'tenant of the recorded row and event (default: config defaultTenant)')
    .option('--json', 'print the result as JSON')
    .option('--no-record', 'do not write the result to the attestations table')
    .action(async (flags: Flags) => {
      const slot = slotSelector(flags);
      const pin = readPin(pinSource(flags), process.env);
      if (!pin.ok) throw new KeywatchError('USAGE', pin.error);
      if ((flags.label === undefined) === (flags.id === undefined)) throw new KeywatchError('USAGE', 'give exactly one of --label or --id');
      if (flags.id !== undefined && !/^([0-9a-fA-F]{2})+$/.test(flags.id)) throw new KeywatchError('USAGE', `--id must be hex, got ${JSON.stringify(flags.id)}`);
      let providerKcv: { algorithm?: KcvAlgorithm; value: Buffer } | undefined;
      if (flags.providerKcv !== undefined) {
        if (!/^([0-9a-fA-F]{2}){3,32}$/.test(flags.providerKcv)) throw new KeywatchError('USAGE', `--provider-kcv must be at least 3 bytes of hex, got ${JSON.stringify(flags.providerKcv)}`);
        providerKcv = { ...(flags.providerKcvAlgorithm ? { algorithm: flags.providerKcvAlgorithm } : {}), value: Buffer.from(flags.providerKcv, 'hex') };
      }
      const result = attestPkcs11({
        modulePath: flags.module,
        slot,
        pin: pin.value,
        key: flags.label !== undefined ? { label: flags.label } : { id: Buffer.from(flags.id!, 'hex') },
        ...(flags.policy ? { policy: flags.policy } : {}),
        ...(providerKcv ? { providerKcv } : {}),
        ...(flags.spki ? { spki: parseSpki(flags.spki) } : {}),
      });
      if (flags.providerKey !== undefined && flags.providerKcv === undefined) throw new KeywatchError('USAGE', '--provider-key goes with --provider-kcv');
      if (flags.record) {
        const config = configFrom(globals());
        const tenant = flags.tenant ?? config.defaultTenant;
        const now = systemClock.now();
        await withStore(globals(), async (store) => {
          await recordPkcs11Attestation(store, pkcs11AttestationRow(result, { modulePath: flags.module, keyLabel: flags.label ?? flags.id ?? '', tenant, ...(flags.policy ? { policy: flags.policy } : {}), now }));
          const event = flags.providerKey
            ? kcvComparisonEvent(result, { providerKeyId: flags.providerKey, hsmKey: `${result.evidence.tokenLabel}:${result.evidence.key?.label ?? flags.label ?? flags.id ?? ''}`, tenant, at: now })
            : undefined;
          if (event) await ingestKeyEventRecords(store, config, JSON.stringify(event) + '\n', `attestation:${result.evidence.tokenLabel}`, systemClock);
        });
      }
      process.stdout.write(flags.json ? JSON.stringify({ ...result, codes: Object.fromEntries([...result.failures, ...result.warnings, ...(result.policy?.failures ?? [])].map((i) => [i.code, ATTESTATION_CODES[i.code]])) }, null, 2) + '\n' : formatText(result));
      if (result.verdict === 'fail') process.exitCode = EXIT_ATTEST_FAIL;
      else if (result.verdict === 'policy-fail') process.exitCode = EXIT_ATTEST_POLICY;
    });
}
