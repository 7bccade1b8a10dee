import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KeywatchError } from '../core/errors.ts';

/** Environment variable naming the chromium binary when it is not `chromium` on PATH. */
export const CHROMIUM_ENV = 'KEYWATCH_CHROMIUM';

/** The system chromium (Debian package `chromium`), or undefined. keywatch never downloads a browser. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = env[CHROMIUM_ENV] ? [env[CHROMIUM_ENV]] : (env.PATH ?? '').split(delimiter).filter(Boolean).flatMap((d) => [join(d, 'chromium'), join(d, 'chromium-browser')]);
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not this one
    }
  }
  return undefined;
}

// Headless, and nothing that reaches out: no background networking, component updates or sync.
const BASE_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-extensions', '--no-first-run', '--hide-scrollbars'];

async function run(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const bin = findChromium(env);
  if (!bin) throw new KeywatchError('USAGE', `chromium is not installed (Debian: apt-get install chromium); set ${CHROMIUM_ENV} to its path if it lives elsewhere`);
  // A throw-away profile, so nothing is read from or left in the user's home.
  const profile = mkdtempSync(join(tmpdir(), 'keywatch-chromium-'));
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(bin, [...BASE_FLAGS, `--user-data-dir=${profile}`, ...args], { timeout: 120_000, maxBuffer: 16 << 20 }, (error, _out, err) =>
        error ? reject(new Error(`chromium failed: ${error.message}\n${err.slice(-2000)}`, { cause: error })) : resolve(),
      );
    });
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Prints an HTML file to PDF with headless chromium, without header and footer. */
export async function printToPdf(htmlFile: string, pdfFile: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await run(['--no-pdf-header-footer', `--print-to-pdf=${pdfFile}`, pathToFileURL(htmlFile).href], env);
}

/** A PNG screenshot of an HTML file as headless chromium renders it. */
export async function screenshot(htmlFile: string, pngFile: string, opts: { width?: number; height?: number } = {}, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await run([`--window-size=${opts.width ?? 1280},${opts.height ?? 2000}`, `--screenshot=${pngFile}`, pathToFileURL(htmlFile).href], env);
}
