import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { systemClock } from '../../core/clock.ts';
import { KeywatchError } from '../../core/errors.ts';
import { DEFAULT_ANCHOR_DIR, loadAnchorDir } from '../../attestation/anchors.ts';
import { runImportCheck } from '../../attestation/import-check/run.ts';
import { runMarvell, type MarvellKind } from '../../attestation/marvell/run.ts';
import { POLICIES, type PolicyName } from '../../attestation/policy.ts';
import { recordAttestation } from '../../attestation/record.ts';
import { renderReport, reportRow, type AttestationReport } from '../../attestation/report.ts';
import type { KcvAlgorithm } from '../../attestation/kcv.ts';
import { EXIT } from '../exit-codes.ts';
import { withStore, type GlobalOptions } from '../context.ts';
import { pkcs11Subcommand } from './attest-pkcs11.ts';

function readInput(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KeywatchError(code === 'ENOENT' ? 'INPUT_NOT_FOUND' : 'INPUT_UNREADABLE', `${flag} ${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { cause: e });
  }
}

function readJson(path: string, flag: string): { value: unknown; bytes: Buffer } {
  const bytes = readInput(path, flag);
  try {
    return { value: JSON.parse(bytes.toString('utf8')), bytes };
  } catch (e) {
    throw new KeywatchError('INPUT_UNREADABLE', `${flag} ${path} is not JSON: ${(e as Error).message}`, { cause: e });
  }
}

function parseNow(s: string | undefined): Date {
  if (s === undefined) return systemClock.now();
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00Z` : s);
  if (Number.isNaN(t)) throw new KeywatchError('USAGE', `--now must be an ISO time (2026-03-02T08:00:00Z) or a date, not "${s}"`);
  return new Date(t);
}

interface CommonOpts {
  now?: string;
  keyId?: string;
  tenant: string;
  json?: boolean;
  record: boolean;
}

/** Prints the report, records it unless --no-record, and sets the exit code: 0 pass, 7 fail, 8 policy-fail. */
async function finish(globals: () => GlobalOptions, report: AttestationReport, opts: CommonOpts, judgedAt: Date): Promise<void> {
  // verified_at is when the check ran; a --now in the past or future is kept in the evidence.
  const verifiedAt = systemClock.now();
  if (opts.now !== undefined) report.evidence['judgedAt'] = judgedAt.toISOString();
  if (opts.record) await withStore(globals(), (store) => recordAttestation(store, reportRow(report, verifiedAt, opts.tenant)));
  if (opts.json) process.stdout.write(JSON.stringify({ ...report, verifiedAt: verifiedAt.toISOString(), recorded: opts.record }, null, 2) + '\n');
  else process.stdout.write(renderReport(report) + (opts.record ? 'recorded in the attestations table\n' : ''));
  process.exitCode = report.outcome === 'pass' ? EXIT.OK : report.outcome === 'fail' ? EXIT.ATTESTATION_FAILED : EXIT.POLICY_DENIED;
}

function withCommon(cmd: Command): Command {
  return cmd
    .option('--now <iso>', 'judge certificate validity and expiry at this time instead of now')
    .option('--key-id <id>', 'key id to record (default: from the input)')
    .option('--tenant <tenant>', 'tenant to record the result under', '')
    .option('--json', 'print the report as JSON')
    .option('--no-record', 'do not write the result to the attestations table');
}

function marvellCommand(globals: () => GlobalOptions): Command {
  return withCommon(
    new Command('marvell')
      .description('verify a Marvell (Cavium) key attestation from Google Cloud HSM or Azure Managed HSM, apply a policy, record the verdict')
      .requiredOption('--attestation <file>', 'the attestation: a raw blob (gzip or not), a Google CryptoKeyVersion / ImportJob JSON, or an Azure get-attestation JSON')
      .option('--certs <file>', 'PEM certificate bundle (required for a raw blob; extra certificates for JSON inputs)')
      .option('--public-key <file>', 'PEM public key the attestation must be about (binding)')
      .addOption(new Option('--policy <policy>', 'residency policy to apply to a valid proof').choices([...POLICIES]))
      .option('--customer-kcv <hex>', "KCV of the customer's own copy of the key (byok-imported)")
      .addOption(new Option('--customer-kcv-algorithm <alg>', 'algorithm of --customer-kcv (default: the attested KCV\'s)').choices(['aes-ecb', 'aes-cmac', 'tdes-ecb', 'spki-sha1']))
      .addOption(new Option('--kind <kind>', 'input kind (default: raw blob = google-key; JSON is recognised)').choices(['google-key', 'google-import-job', 'azure']))
      .option('--anchors <dir>', 'trust anchor directory', DEFAULT_ANCHOR_DIR),
  ).action(
    async (
      opts: CommonOpts & { attestation: string; certs?: string; publicKey?: string; policy?: PolicyName; customerKcv?: string; customerKcvAlgorithm?: KcvAlgorithm; kind?: MarvellKind; anchors: string },
    ) => {
      const now = parseNow(opts.now);
      if (opts.customerKcv !== undefined && !/^([0-9a-fA-F]{2})+$/.test(opts.customerKcv)) throw new KeywatchError('USAGE', '--customer-kcv must be hex bytes, e.g. 1a2b3c');
      const anchors = loadAnchorDir(opts.anchors);
      if (!anchors.ok) throw new KeywatchError('CONFIG_INVALID', `trust anchors in ${opts.anchors}: ${anchors.error.code}: ${anchors.error.message}`);
      const run = runMarvell({
        attestation: readInput(opts.attestation, '--attestation'),
        attestationName: opts.attestation,
        anchors: anchors.value,
        now,
        ...(opts.certs ? { certs: readInput(opts.certs, '--certs').toString('utf8') } : {}),
        ...(opts.publicKey ? { publicKeyPem: readInput(opts.publicKey, '--public-key').toString('utf8') } : {}),
        ...(opts.kind ? { kind: opts.kind } : {}),
        ...(opts.policy ? { policy: opts.policy } : {}),
        ...(opts.customerKcv ? { customerKcv: { value: opts.customerKcv.toLowerCase(), ...(opts.customerKcvAlgorithm ? { algorithm: opts.customerKcvAlgorithm } : {}) } } : {}),
        ...(opts.keyId ? { keyId: opts.keyId } : {}),
      });
      if (!run.ok) throw new KeywatchError('USAGE', run.error);
      await finish(globals, run.value, opts, now);
    },
  );
}

function importCheckCommand(globals: () => GlobalOptions): Command {
  return withCommon(
    new Command('import-check')
      .description('check BYOK import material offline: wrapping algorithm vs key spec, blob length, OAEP hash, token/job expiry, provider errors')
      .addOption(new Option('--provider <provider>', 'where the key is imported').choices(['aws', 'gcp', 'azure']).makeOptionMandatory())
      .option('--params <file>', 'aws: `aws kms get-parameters-for-import --output json`; gcp: `gcloud kms import-jobs describe --format=json`')
      .option('--wrapping-algorithm <alg>', 'aws: the WrappingAlgorithm asked for (RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_256, ...)')
      .option('--wrapping-key-spec <spec>', 'aws: the WrappingKeySpec asked for (RSA_2048, RSA_3072, RSA_4096)')
      .option('--wrapped <file>', 'aws/gcp: the wrapped key material as it is sent (binary)')
      .option('--byok <file>', 'azure: the .byok file')
      .option('--kek <file>', 'azure: the KEK, as `az keyvault key show` JSON or a PEM public key')
      .option('--target <spec>', 'key being imported: aws KeySpec (SYMMETRIC_DEFAULT, RSA_2048, ECC_NIST_P256...), gcp algorithm (GOOGLE_SYMMETRIC_ENCRYPTION, EC_SIGN_P256_SHA256...), azure RSA:2048 / EC:P-256 / oct:256')
      .addOption(new Option('--oaep-hash <hash>', 'the OAEP hash your wrapping tool used').choices(['sha1', 'sha256']))
      .option('--provider-error <text>', 'the error the provider returned for this import (e.g. InvalidCiphertextException)')
      .option('--rehearsal-key <file>', 'rehearsal only: PEM private key of your stand-in wrapping key pair; the blob is unwrapped and checked'),
  ).action(
    async (
      opts: CommonOpts & { provider: 'aws' | 'gcp' | 'azure'; params?: string; wrappingAlgorithm?: string; wrappingKeySpec?: string; wrapped?: string; byok?: string; kek?: string; target?: string; oaepHash?: 'sha1' | 'sha256'; providerError?: string; rehearsalKey?: string },
    ) => {
      const now = parseNow(opts.now);
      if (opts.provider === 'azure' && !opts.byok) throw new KeywatchError('USAGE', 'azure needs --byok FILE');
      if (opts.provider !== 'azure' && !opts.params) throw new KeywatchError('USAGE', `${opts.provider} needs --params FILE`);
      const inputs: Buffer[] = [];
      const params = opts.params ? readJson(opts.params, '--params') : undefined;
      const byok = opts.byok ? readJson(opts.byok, '--byok') : undefined;
      const wrapped = opts.wrapped ? readInput(opts.wrapped, '--wrapped') : undefined;
      for (const x of [params?.bytes, byok?.bytes, wrapped]) if (x) inputs.push(x);
      let kek: { pem: string } | { json: unknown } | undefined;
      if (opts.kek) {
        const text = readInput(opts.kek, '--kek').toString('utf8');
        kek = text.trimStart().startsWith('{') ? { json: readJson(opts.kek, '--kek').value } : { pem: text };
      }
      const report = runImportCheck(
        {
          provider: opts.provider,
          now,
          ...(params ? { params: params.value } : {}),
          ...(byok ? { byok: byok.value } : {}),
          ...(wrapped ? { wrapped } : {}),
          ...(kek ? { kek } : {}),
          ...(opts.wrappingAlgorithm ? { wrappingAlgorithm: opts.wrappingAlgorithm } : {}),
          ...(opts.wrappingKeySpec ? { wrappingKeySpec: opts.wrappingKeySpec } : {}),
          ...(opts.target ? { target: opts.target } : {}),
          ...(opts.oaepHash ? { oaepHash: opts.oaepHash } : {}),
          ...(opts.providerError ? { providerError: opts.providerError } : {}),
          ...(opts.rehearsalKey ? { rehearsalPrivateKey: readInput(opts.rehearsalKey, '--rehearsal-key').toString('utf8') } : {}),
        },
        inputs,
        opts.keyId,
      );
      await finish(globals, report, opts, now);
    },
  );
}

/**
 * `keywatch attest marvell | import-check`. Exit codes for CI: 0 pass, 7 fail (invalid proof or
 * import material), 8 policy-fail (valid proof the policy does not allow), 2 usage.
 */
export function attestCommand(globals: () => GlobalOptions): Command {
  return new Command('attest')
    .description('verify key-residency proofs and BYOK import material; record verdicts in the attestations table')
    .addCommand(marvellCommand(globals).exitOverride())
    .addCommand(importCheckCommand(globals).exitOverride())
    .addCommand(pkcs11Subcommand(globals).exitOverride())
    .exitOverride();
}
