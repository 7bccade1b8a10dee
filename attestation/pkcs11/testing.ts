import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Test material only: a throw-away SoftHSM2 token in a directory of its own, reached through a
 * temporary softhsm2.conf named by SOFTHSM2_CONF (the system token directory is never touched).
 *
 * @example const token = createSoftHsmToken('probe'); ...; token.remove();
 */
export const SOFTHSM_MODULE = process.env.KEYWATCH_SOFTHSM_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';
export const MISSING_SOFTHSM_MESSAGE = `SoftHSM2 is not installed (${SOFTHSM_MODULE} or softhsm2-util missing); .ci/install-apt.sh installs the softhsm2 package`;

export function softHsmAvailable(): boolean {
  try {
    accessSync(SOFTHSM_MODULE, constants.R_OK);
    execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** In CI a missing SoftHSM2 is a failure (the CI script installs it); elsewhere the live suites skip. */
export function missingSoftHsmMustFail(): boolean {
  return process.env.CI === 'true';
}

export interface SoftHsmToken {
  label: string;
  pin: string;
  dir: string;
  remove(): void;
}

/**
 * Initialises a token in a fresh directory and points SOFTHSM2_CONF at it. SoftHSM2 reads the
 * configuration at C_Initialize, so create the token before opening a session.
 */
export function createSoftHsmToken(label: string, pin = '123456'): SoftHsmToken {
  const dir = mkdtempSync(join(tmpdir(), 'keywatch-softhsm-'));
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const previous = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = conf;
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', `so-${pin}`, '--pin', pin], { stdio: 'ignore', env: process.env });
  return {
    label,
    pin,
    dir,
    remove() {
      if (previous === undefined) delete process.env.SOFTHSM2_CONF;
      else process.env.SOFTHSM2_CONF = previous;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
