import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { scheduleKeyDeletion } from '../../demo/live-traffic.ts';

/**
 * Runs `keywatch serve` as a subprocess for tests and benches: writes the config as YAML, waits for
 * the `started` line on stdout (addresses actually bound: use port 0), keeps stderr (JSON logs) in
 * a file so an orphan can never hold the test runner's pipes.
 *
 * @example const s = await startServe({ dir, config: { dataDir, http: { listen: '127.0.0.1:0' } } }); await s.waitReady(); ... await s.stop();
 */
export const BIN = new URL('../../bin/keywatch.js', import.meta.url).pathname;

export interface ServeProcess {
  proc: ChildProcess;
  pid: number;
  addresses: { ops: string; http?: string; localApi?: string };
  configPath: string;
  /** The service's log lines so far (stderr, JSON). */
  logs(): string;
  /** Polls /readyz until 200. */
  waitReady(timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Sends `signal` and resolves with the exit code and how long the exit took. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; ms: number }>;
  exited: Promise<number | null>;
}

export function writeServeConfig(dir: string, config: Record<string, unknown>, name = 'keywatch.yaml'): string {
  const file = join(dir, name);
  writeFileSync(file, stringify(config));
  return file;
}

export async function startServe(o: { dir: string; config: Record<string, unknown>; env?: NodeJS.ProcessEnv; name?: string; startTimeoutMs?: number }): Promise<ServeProcess> {
  const configPath = writeServeConfig(o.dir, o.config, o.name);
  const logFile = join(o.dir, `${o.name ?? 'serve'}.log`);
  const errFd = openSync(logFile, 'w');
  const proc = spawn(process.execPath, [BIN, 'serve', '--config', configPath], {
    cwd: o.dir,
    env: { ...process.env, KEYWATCH_DATA_DIR: '', KEYWATCH_LOG_LEVEL: 'info', ...o.env },
    stdio: ['ignore', 'pipe', errFd],
  });
  closeSync(errFd);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const logs = () => readFileSync(logFile, 'utf8');
  const lines = createInterface({ input: proc.stdout! });
  const started = await new Promise<ServeProcess['addresses']>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`keywatch serve did not start in time; logs:\n${logs()}`)), o.startTimeoutMs ?? 60_000);
    lines.on('line', (line) => {
      try {
        const v = JSON.parse(line) as { event?: string } & ServeProcess['addresses'];
        if (v.event === 'started') {
          clearTimeout(timer);
          resolve(v);
        }
      } catch {
        // other output
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`keywatch serve exited with ${code} before it started; logs:\n${logs()}`));
    });
  });
  return {
    proc,
    pid: proc.pid as number,
    addresses: started,
    configPath,
    logs,
    exited,
    async waitReady(timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs;
      let last = '';
      while (Date.now() < until) {
        try {
          const r = await fetch(`${started.ops}/readyz`);
          const body = (await r.json()) as Record<string, unknown>;
          if (r.status === 200) return body;
          last = JSON.stringify(body);
        } catch (e) {
          last = String(e);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`not ready after ${timeoutMs} ms: ${last}`);
    },
    async stop(signal = 'SIGTERM') {
      const t0 = performance.now();
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const code = await exited;
      return { code, ms: performance.now() - t0 };
    },
  };
}

/** Runs the keywatch CLI against `configPath` (another terminal, as far as the service can tell). */
export function kwCli(configPath: string, ...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, '--config', configPath, ...args], { encoding: 'utf8', env: { ...process.env, KEYWATCH_DATA_DIR: '' }, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A CloudTrail ScheduleKeyDeletion record happening now (key ...6b5N for n = N): the key-disabled-or-deleted detector alerts on it. */
export function scheduleKeyDeletionRecord(now: Date, n = 0): Record<string, unknown> {
  return scheduleKeyDeletion(now, `arn:aws:kms:us-east-1:111122223333:key/0b9d7f5e-3c1a-4b8d-9f6e-4c2a0e8d6b${String(50 + n).padStart(2, '0')}`, 'arn:aws:iam::111122223333:user/kms-admin');
}

/** Polls `fn` until it returns a value other than undefined. */
export async function eventually<T>(fn: () => Promise<T | undefined> | T | undefined, o: { timeoutMs: number; intervalMs?: number; what: string }): Promise<T> {
  const until = Date.now() + o.timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${o.what}`);
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 500));
  }
}
