import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './ingest/paths.ts';

/**
 * Runs a bench child (`script` relative to the repository root) under tsx in a process of its own
 * (chdb holds one data directory per process). Its stderr goes to `logPath`; its last stdout line
 * is its JSON result. A non-zero exit or a missing result is an error naming the log.
 *
 * @example const r = await runBenchChild<{ rows: number }>('bench/ingest/native.ts', ['--file', f], 'bench/out/x.log');
 */
export async function runBenchChild<T>(script: string, args: string[], logPath: string): Promise<T> {
  const fd = openSync(logPath, 'w');
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, script), ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', fd],
    });
    let out = '';
    // Always set for stdio 'pipe'; the type cannot say so when stderr is a file descriptor.
    const stdout = child.stdout as NonNullable<typeof child.stdout>;
    stdout.setEncoding('utf8');
    stdout.on('data', (d: string) => (out += d));
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    if (code !== 0) {
      const tail = readFileSync(logPath, 'utf8').trim().split('\n').slice(-5).join('\n');
      throw new Error(`${script} failed (${signal ?? `exit ${code}`}); see ${relative(REPO_ROOT, logPath)}:\n${tail}`);
    }
    const last = out.trim().split('\n').pop() ?? '';
    try {
      return JSON.parse(last) as T;
    } catch {
      throw new Error(`${script} printed no JSON result; last stdout line: ${JSON.stringify(last)}`);
    }
  } finally {
    closeSync(fd);
  }
}
