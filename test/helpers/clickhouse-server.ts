import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, openSync, closeSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Starts Debian's `clickhouse-server` (18.16 here) on loopback for transport tests, in a temporary
 * directory of its own, and stops it by the pid it started.
 *
 * @example
 *   const server = await startClickHouseServer();
 *   const store = await openServerStore({ url: server.url, password: server.password, allowUnsupportedVersion: true });
 *   await server.stop();
 */
export interface ClickHouseServer {
  /** HTTP URL without credentials, e.g. http://127.0.0.1:41234 */
  url: string;
  username: string;
  password: string;
  version: string;
  httpPort: number;
  pid: number;
  dir: string;
  stop(): Promise<void>;
  /** SIGKILL by pid, keeping the data directory and ports (a crash, for fault tests). */
  kill(): Promise<void>;
  /** Starts the server again on the same ports and data directory, after `kill`. */
  restart(): Promise<void>;
}

export const MISSING_SERVER_MESSAGE = 'clickhouse-server is not installed; .ci/run installs it';

const BINARY = 'clickhouse-server';
// Debian puts the binary in /usr/sbin, which a non-root PATH often lacks.
const EXTRA_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin'];
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

export function findClickHouseServerBinary(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, BINARY);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function clickhouseServerAvailable(): boolean {
  return findClickHouseServerBinary() !== undefined;
}

/** In CI a missing binary is a failure (the CI script installs it); elsewhere tests may skip. */
export function missingServerMustFail(): boolean {
  return process.env.CI === 'true';
}

/**
 * `binary` overrides the Debian server, e.g. a modern single `clickhouse` binary (then run as
 * `clickhouse server`), for tests that need the keywatch schema.
 */
export async function startClickHouseServer(opts: { binary?: string } = {}): Promise<ClickHouseServer> {
  const binary = opts.binary ?? findClickHouseServerBinary();
  if (binary === undefined) throw new Error(MISSING_SERVER_MESSAGE);
  const prefixArgs = /(^|\/)clickhouse$/.test(binary) ? ['server'] : [];

  const dir = await mkdtemp(join(tmpdir(), 'keywatch-clickhouse-'));
  const [httpPort, tcpPort] = await freePorts(2);
  if (httpPort === undefined || tcpPort === undefined) throw new Error('could not find two free loopback ports');
  const username = 'default';
  const password = randomBytes(12).toString('hex');

  await mkdir(join(dir, 'data'));
  await mkdir(join(dir, 'tmp'));
  await writeFile(join(dir, 'config.xml'), serverConfig(dir, httpPort, tcpPort));
  await writeFile(join(dir, 'users.xml'), usersConfig(username, password));

  let child!: ChildProcess;
  let exited!: Promise<number | null>;
  const launch = () => {
    const stdoutFd = openSync(join(dir, 'stdout.log'), 'a');
    const stderrFd = openSync(join(dir, 'stderr.log'), 'a');
    try {
      child = spawn(binary, [...prefixArgs, `--config-file=${join(dir, 'config.xml')}`], {
        cwd: dir,
        stdio: ['ignore', stdoutFd, stderrFd],
        detached: false,
      });
    } finally {
      closeSync(stdoutFd);
      closeSync(stderrFd);
    }
    const c = child;
    exited = new Promise<number | null>((resolve) => {
      c.once('exit', (code) => resolve(code));
      c.once('error', () => resolve(-1));
    });
  };
  launch();

  // If the test process dies without calling stop(), do not leave the server behind.
  const killOnExit = (): void => { child.kill('SIGKILL'); };
  process.once('exit', killOnExit);

  const url = `http://127.0.0.1:${httpPort}`;
  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    await killByPid(child, exited);
    await rm(dir, { recursive: true, force: true });
  };
  const server: ClickHouseServer = {
    url,
    username,
    password,
    version: '',
    httpPort,
    pid: -1,
    dir,
    stop,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    restart: async () => {
      launch();
      server.pid = child.pid ?? -1;
      await waitUntilReady(url, username, password, exited, dir);
    },
  };

  try {
    server.version = await waitUntilReady(url, username, password, exited, dir);
    server.pid = child.pid ?? -1;
    return server;
  } catch (e) {
    await stop();
    throw e;
  }
}

function serverConfig(dir: string, httpPort: number, tcpPort: number): string {
  return `<?xml version="1.0"?>
<yandex>
  <logger>
    <level>information</level>
    <log>${join(dir, 'server.log')}</log>
    <errorlog>${join(dir, 'server.err.log')}</errorlog>
    <console>0</console>
  </logger>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>${join(dir, 'data')}/</path>
  <tmp_path>${join(dir, 'tmp')}/</tmp_path>
  <users_config>${join(dir, 'users.xml')}</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
</yandex>
`;
}

function usersConfig(username: string, password: string): string {
  return `<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <quotas><default></default></quotas>
  <users>
    <${username}>
      <password>${password}</password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </${username}>
  </users>
</yandex>
`;
}

async function freePorts(n: number): Promise<number[]> {
  // Hold all listeners open until every port is known, so the same port is not handed out twice.
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

async function waitUntilReady(
  url: string,
  username: string,
  password: string,
  exited: Promise<number | null>,
  dir: string,
): Promise<string> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let exitCode: number | null | undefined;
  void exited.then((code) => { exitCode = code ?? -1; });
  const auth = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  let lastError = '';
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      throw new Error(`clickhouse-server exited with code ${exitCode} before answering on ${url}\n${await logTail(dir)}`);
    }
    try {
      const res = await httpGet(`${url}/?query=${encodeURIComponent('SELECT version()')}`, auth);
      if (res.status === 200) return res.body.trim();
      lastError = `HTTP ${res.status}: ${res.body.split('\n')[0] ?? ''}`;
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`clickhouse-server did not answer on ${url} within ${START_TIMEOUT_MS / 1000} s (last: ${lastError})\n${await logTail(dir)}`);
}

// Not fetch(): its keep-alive socket makes 18.16 wait about 8 s for it on SIGTERM.
function httpGet(url: string, authorization: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers: { authorization, connection: 'close' }, timeout: 2_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 2 s')));
    req.on('error', reject);
    req.end();
  });
}

async function logTail(dir: string, lines = 30): Promise<string> {
  const parts: string[] = [];
  for (const name of ['server.err.log', 'stderr.log', 'server.log']) {
    try {
      const text = await readFile(join(dir, name), 'utf8');
      const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
      if (tail) parts.push(`--- ${name} (last ${lines} lines) ---\n${tail}`);
    } catch {
      // log not written yet
    }
  }
  return parts.join('\n') || '(no server log written)';
}

async function killByPid(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), STOP_TIMEOUT_MS).unref());
  if ((await Promise.race([exited, timer])) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}
