import { readFileSync } from 'node:fs';

/**
 * Where the user PIN comes from: an environment variable or a file, never the command line (argv
 * is visible to every user of the machine through ps). The PIN is returned to the caller only to
 * pass to C_Login; it is never logged or put in a message.
 *
 * @example const pin = readPin({ env: 'HSM_PIN' }, process.env); if (!pin.ok) fail(pin.error)
 */
export type PinSource = { env: string } | { file: string };

export function readPin(source: PinSource, env: NodeJS.ProcessEnv): { ok: true; value: string } | { ok: false; error: string } {
  if ('env' in source) {
    const value = env[source.env];
    if (value === undefined || value === '') return { ok: false, error: `environment variable ${source.env} is not set or empty` };
    return { ok: true, value };
  }
  let text: string;
  try {
    text = readFileSync(source.file, 'utf8');
  } catch (err) {
    return { ok: false, error: `cannot read the PIN file ${source.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}` };
  }
  // A trailing newline is how editors and `echo` leave a one-line file; it is not part of the PIN.
  const value = text.replace(/\r?\n$/, '');
  if (value === '') return { ok: false, error: `the PIN file ${source.file} is empty` };
  return { ok: true, value };
}
