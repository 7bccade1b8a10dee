import { appendFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { systemClock } from '../../core/clock.ts';
import { KeywatchError } from '../../core/errors.ts';
import { pinSource, slotSelector, type TokenFlags } from '../../attestation/pkcs11/cli-options.ts';
import { readPin } from '../../attestation/pkcs11/pin.ts';
import { ingestProbeRecords } from '../../attestation/probe/ingest.ts';
import { probeNdjson } from '../../attestation/probe/probe.ts';
import { probeRound } from '../../attestation/probe/round.ts';
import { every, isCronExpression } from '../../core/schedule.ts';
import { EXIT } from '../exit-codes.ts';
import { withStore, type GlobalOptions } from '../context.ts';
import { formatSummary } from './ingest.ts';

interface Flags extends TokenFlags {
  wrapKey: string;
  cryptoKey: string;
  count: string;
  out?: string;
  ingest?: boolean;
  schedule?: string;
}

/**
 * `keywatch probe`: synthetic wrap/unwrap/encrypt/decrypt calls against a customer HSM, written as
 * keywatch-json key events (source pkcs11-probe) to stdout or --out, and with --ingest stored
 * through the ingest pipeline. Failed calls are events with the CKR_ code, not errors; the exit
 * code is 0 even when probes fail (the events are the result), and 3 when the token cannot be opened.
 *
 * @example keywatch probe --module /usr/lib/softhsm/libsofthsm2.so --token prod --pin-env HSM_PIN --wrap-key kek-1 --crypto-key dek-1 --count 5 --ingest
 */
export function probeCommand(globals: () => GlobalOptions): Command {
  return new Command('probe')
    .description('time wrap/unwrap/encrypt/decrypt calls against a PKCS#11 token and emit them as key events')
    .requiredOption('--module <path>', 'PKCS#11 module (shared library)')
    .option('--slot <index>', 'position of the slot among the slots with a token (0, 1, ...)')
    .option('--slot-id <id>', 'slot id as the module numbers it')
    .option('--token <label>', 'token label')
    .option('--pin-env <var>', 'environment variable holding the user PIN')
    .option('--pin-file <file>', 'file holding the user PIN (one line)')
    .requiredOption('--wrap-key <label>', 'AES key that wraps and unwraps a fresh data key (CKM_AES_KEY_WRAP_PAD)')
    .requiredOption('--crypto-key <label>', 'AES key that encrypts and decrypts (CKM_AES_CBC_PAD)')
    .option('--count <n>', 'rounds of the four calls', '1')
    .option('--out <file>', 'write the NDJSON events to this file instead of stdout')
    .option('--ingest', 'also store the events (keywatch-json through the ingest pipeline)')
    .option('--schedule <cron>', 'keep probing at these times (cron, UTC, e.g. "*/5 * * * *") until SIGINT or SIGTERM; needs --ingest or --out (appended)')
    .action(async (flags: Flags) => {
      const slot = slotSelector(flags);
      const count = Number(flags.count);
      if (!Number.isInteger(count) || count < 1 || count > 10_000) throw new KeywatchError('USAGE', `--count must be an integer from 1 to 10000, got ${JSON.stringify(flags.count)}`);
      const pin = readPin(pinSource(flags), process.env);
      if (!pin.ok) throw new KeywatchError('USAGE', pin.error);
      if (flags.schedule !== undefined) {
        if (!isCronExpression(flags.schedule)) throw new KeywatchError('USAGE', `--schedule must be a cron expression such as "*/5 * * * *", not ${JSON.stringify(flags.schedule)}`);
        if (!flags.ingest && !flags.out) throw new KeywatchError('USAGE', '--schedule needs --ingest or --out: scheduled probes must go somewhere');
      }
      const options = { wrapKey: flags.wrapKey, cryptoKey: flags.cryptoKey, count, modulePath: flags.module };

      /** One probe set. A token that cannot be opened gives failure events (scheduled) or exit 3 (once). */
      const once = async (scheduled: boolean): Promise<void> => {
        const round = probeRound({ ...options, slot, pin: pin.value }, systemClock);
        if (round.openError) {
          process.stderr.write(`keywatch: ${round.openError.message}\n`);
          if (!scheduled) {
            process.exitCode = EXIT.INPUT;
            return;
          }
        }
        const { records, tokenLabel } = round;
        const ndjson = probeNdjson(records);
        if (flags.out) (scheduled ? appendFileSync : writeFileSync)(flags.out, ndjson);
        else if (!flags.ingest) process.stdout.write(ndjson);
        const failed = records.filter((r) => r.outcome === 'failure');
        process.stderr.write(`keywatch: ${scheduled ? `${systemClock.now().toISOString()} ` : ''}${records.length} probe call(s), ${failed.length} failed${failed.length ? ` (${[...new Set(failed.map((f) => f.error_code))].join(', ')})` : ''}\n`);
        if (flags.ingest) {
          const summary = await withStore(globals(), (store, config) => ingestProbeRecords(store, config, records, tokenLabel, systemClock));
          if (!scheduled) process.stdout.write(formatSummary(summary) + '\n');
        }
      };

      if (flags.schedule === undefined) {
        await once(false);
        return;
      }
      // The store is opened per round, so other commands can use the embedded store between rounds.
      await once(true);
      const schedule = every(flags.schedule, () => once(true), { name: 'probe', onError: (e) => process.stderr.write(`keywatch: probe round failed: ${e instanceof Error ? e.message : String(e)}\n`) });
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await schedule.stop();
    });
}
