import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A real Kafka-protocol broker for tests: librdkafka's mock cluster (in memory, loopback only),
 * served by `mockbroker.c` beside this file. The program is compiled with gcc once per source
 * version into node_modules/.cache/keywatch-mockbroker/ and started per test file.
 *
 * Needs gcc and librdkafka-dev (`bash .ci/install-apt.sh`). Under CI=true a missing toolchain
 * fails the Kafka tests; elsewhere they are skipped with a message.
 *
 * @example
 *   const broker = await startMockBroker({ brokers: 1, topics: { cloudtrail: 3 } });
 *   // config.kafka.brokers = broker.brokers
 *   await broker.stop();
 */
export interface MockBroker {
  /** host:port of every broker, for `kafka.brokers`. */
  brokers: string[];
  pid: number;
  stop(): Promise<void>;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const SOURCE = join(HERE, 'mockbroker.c');
const CACHE = join(HERE, '..', '..', '..', 'node_modules', '.cache', 'keywatch-mockbroker');
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

export const MOCK_BROKER_NEEDS = 'the Kafka tests need gcc and librdkafka-dev (bash .ci/install-apt.sh installs them)';

type Built = { ok: true; binary: string } | { ok: false; message: string };
let built: Built | undefined;

/**
 * Compiles mockbroker.c unless the cache already holds this version of it. Synchronous, so a test
 * file can decide at load time whether to run its Kafka suite.
 */
export function buildMockBroker(): Built {
  if (built) return built;
  const source = readFileSync(SOURCE);
  const version = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const binary = join(CACHE, `mockbroker-${version}`);
  if (existsSync(binary)) return (built = { ok: true, binary });
  mkdirSync(CACHE, { recursive: true });
  // Parallel test files may build at the same time: each writes its own file and renames it.
  const partial = `${binary}.${process.pid}.tmp`;
  const r = spawnSync('gcc', ['-O2', '-Wall', '-o', partial, SOURCE, '-lrdkafka'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(partial, { force: true });
    const detail = r.error ? `gcc could not be run (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})` : (r.stderr.trim().split('\n').slice(0, 5).join('\n') || `gcc exited with ${r.status}`);
    return (built = { ok: false, message: `${MOCK_BROKER_NEEDS}: ${detail}` });
  }
  renameSync(partial, binary);
  return (built = { ok: true, binary });
}

/** In CI a missing toolchain is a failure (the CI script installs it); elsewhere the tests skip. */
export function missingMockBrokerMustFail(): boolean {
  return process.env.CI === 'true';
}

/**
 * Starts a mock cluster of `brokers` brokers with the given topics (name -> partitions). Topics the
 * tests do not create are auto-created by the mock (4 partitions) when a client asks for them.
 * `port` makes the first broker listen there (to restart a broker in place; the mock keeps
 * nothing, so topics, records and committed offsets start empty again).
 */
export async function startMockBroker(opts: { brokers?: number; topics?: Record<string, number>; port?: number } = {}): Promise<MockBroker> {
  const b = buildMockBroker();
  if (!b.ok) throw new Error(b.message);
  const args = [String(opts.brokers ?? 1), ...Object.entries(opts.topics ?? {}).map(([t, n]) => `${t}:${n}`)];
  // Its log goes to a file: a child holding the test runner's stderr would keep the run open.
  const logDir = mkdtempSync(join(tmpdir(), 'keywatch-mockbroker-'));
  const logPath = join(logDir, 'stderr.log');
  const errFd = openSync(logPath, 'a');
  // A fixed port for the first broker lets a test restart the broker where its clients look for it.
  const env = opts.port === undefined ? process.env : { ...process.env, MOCKBROKER_PORT: String(opts.port) };
  const child = spawn(b.binary, args, { stdio: ['ignore', 'pipe', errFd], env });
  closeSync(errFd);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null)));
    child.once('error', () => resolve(-1));
  });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), STOP_TIMEOUT_MS).unref());
      if ((await Promise.race([exited, timer])) === 'timeout') {
        child.kill('SIGKILL');
        await exited;
      }
    }
    rmSync(logDir, { recursive: true, force: true });
  };

  try {
    const out = child.stdout as NodeJS.ReadableStream & { destroy(): void };
    const line = await firstLine(out, exited, logPath);
    out.destroy();
    return { brokers: line.split(','), pid: child.pid ?? -1, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

function firstLine(stream: NodeJS.ReadableStream, exited: Promise<number | null>, logPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`mockbroker printed no bootstrap address within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl !== -1) {
        clearTimeout(timer);
        resolve(text.slice(0, nl).trim());
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      let log = '';
      try {
        log = readFileSync(logPath, 'utf8').trim();
      } catch {
        // no log written
      }
      reject(new Error(`mockbroker exited with code ${code} before printing its address${log ? `: ${log}` : ''}`));
    });
  });
}
