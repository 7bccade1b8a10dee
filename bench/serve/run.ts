import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureEventsFile } from '../ingest/generate.ts';
import { OUT_DIR, REPO_ROOT } from '../ingest/paths.ts';
import { isAlertFor, JsonlFollower, PLANT_DETECTOR, plantedDeletion } from './incident.ts';
import { waitSpoolEmpty, type LoadResult, type StepResult } from './load.ts';
import { fetchOpsMetrics, type OpsMetrics } from './ops-metrics.ts';

/**
 * `npm run bench:serve -- [--server serve|collect] [--ack spooled|stored] [options]`: HTTP ingest
 * load against a keywatch server on loopback, and the time from a planted incident to its alert line.
 *
 * The server (`node bin/keywatch.js <server> --config F`) runs as a subprocess on a fresh temporary
 * data directory; the load comes from another process (load.ts). `--ack` sets serve's
 * `http.acknowledge`: `spooled` (the default with serve) acknowledges 202 once the body is in the
 * spool, `stored` (collect has only this) 200 once it is in the store. The rate search finds the
 * highest offered rate whose acknowledgements keep up with p99 under 200 ms and, with serve, whose
 * spool backlog the store keeps up with; with `serve`, incidents are then planted idle and under
 * background load and the JSONL alert file is watched for them. Then the spool is left to drain
 * (the time to store what was acknowledged), and the store is checked to hold exactly the
 * acknowledged events. One JSON line on stdout, also written
 * to bench/out/serve-<timestamp>.json and bench/out/serve-latest.json. Exits 0 whether or not the
 * targets are met; non-zero when the server or the load generator fails or the store check fails.
 */

const P99_TARGET_MS = 200;
const ALERT_TARGET_S = 5;
const log = (msg: string) => process.stderr.write(`bench:serve: ${msg}\n`);

const children = new Set<ChildProcess>();
/** The temporary data directory, removed on any exit unless --keep. */
let workDir: string | undefined;
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping the server and the load generator`);
    for (const c of children) c.kill('SIGTERM');
    setTimeout(() => process.exit(130), 3_000).unref();
  });
}

function track(child: ChildProcess): { exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  children.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  return { exited };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

function procStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Server CPU seconds (user + system) from /proc/<pid>/stat; null where /proc is missing. */
function procCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of proc(5), counted from after the command name; clock ticks of 1/100 s on Linux.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

interface Sample {
  at: number;
  rssKb: number;
  cpuS: number | null;
}

function sampleServer(pid: number, everyMs = 250): { samples: Sample[]; stop(): void } {
  const samples: Sample[] = [];
  const take = () => samples.push({ at: Date.now(), rssKb: procStatusKb(pid, 'VmRSS'), cpuS: procCpuSeconds(pid) });
  take();
  const timer = setInterval(take, everyMs);
  timer.unref();
  return { samples, stop: () => clearInterval(timer) };
}

function windowStats(samples: Sample[], from: number, to: number): { rssMbMax: number; cpuCores: number | null } {
  const inside = samples.filter((s) => s.at >= from && s.at <= to);
  const rssMbMax = round(Math.max(0, ...inside.map((s) => s.rssKb)) / 1024);
  const first = inside[0];
  const last = inside[inside.length - 1];
  const cpuCores = first && last && first.cpuS !== null && last.cpuS !== null && last.at > first.at ? round((last.cpuS - first.cpuS) / ((last.at - first.at) / 1000), 2) : null;
  return { rssMbMax, cpuCores };
}

/** Runs a keywatch CLI command to completion: its stdout, or an error with the tail of its stderr. */
async function keywatchCli(bin: string, args: string[], timeoutMs = 120_000): Promise<string> {
  const child = spawn(process.execPath, [bin, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const { exited } = track(child);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const { code, signal } = await exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`keywatch ${args[0]} failed (${signal ?? `exit ${code}`}): ${err.trim().split('\n').slice(-3).join(' | ')}`);
  return out;
}

async function countStoredEvents(bin: string, configPath: string): Promise<{ rows: number; ids: number }> {
  const out = await keywatchCli(bin, ['sql', 'SELECT count() AS rows, uniqExact(event_id) AS ids FROM key_events', '--format', 'json', '--config', configPath]);
  const [row] = JSON.parse(out) as { rows: string; ids: string }[];
  if (!row) throw new Error('keywatch sql returned no row');
  return { rows: Number(row.rows), ids: Number(row.ids) };
}

interface LoadChild {
  child: ChildProcess;
  result: Promise<LoadResult>;
}

/** Starts load.ts in a process of its own; its step lines go to `logPath` and, shortened, to our stderr. */
function startLoad(args: string[], token: string, logPath: string): LoadChild {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', 'serve', 'load.ts'), ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KEYWATCH_BENCH_TOKEN: token },
  });
  const { exited } = track(child);
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  let buffered = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    writeFileSync(logPath, d, { flag: 'a' });
    buffered += d;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const l of lines) {
      if (!l.startsWith('{')) continue;
      try {
        const s = JSON.parse(l) as StepResult;
        log(
          `  offered ${s.offeredEventsPerSecond}/s, acked ${s.ackedEventsPerSecond}/s, p50/p99/max ${s.latencyMs.p50}/${s.latencyMs.p99}/${s.latencyMs.max} ms over ${s.latencyMs.count} requests, statuses ${JSON.stringify(s.statuses)}${s.backlog ? `, spool backlog at the end ${s.backlog.endFiles} entries (${s.backlog.endSeconds} s of load; max ${s.backlog.maxFiles}${s.backlog.growing ? ', growing' : ''}), empty ${s.spoolDrainSeconds ?? '?'} s later, stored ${s.storedEventsPerSecond ?? '?'}/s from the step's start until then` : ''}${s.endedEarly ? `, ended early: ${s.endedEarly}` : ''} -> ${s.endedEarly?.startsWith('stopped') ? 'stopped' : s.passed ? 'pass' : s.keepsUp ? 'keeps up, p99 too high' : s.acksKeepUp ? 'acks keep up, the store does not' : 'falls behind'}`,
        );
      } catch {
        // Not a step line.
      }
    }
  });
  const result = exited.then(({ code, signal }) => {
    if (code !== 0) {
      const tail = readFileSync(logPath, 'utf8').trim().split('\n').slice(-5).join('\n');
      throw new Error(`the load generator failed (${signal ?? `exit ${code}`}); see ${relative(REPO_ROOT, logPath)}:\n${tail}`);
    }
    const last = out.trim().split('\n').pop() ?? '';
    return JSON.parse(last) as LoadResult;
  });
  return { child, result };
}

interface PlantResult {
  phase: 'idle' | 'load';
  /** Status of the POST that carried the incident. */
  status: number | string;
  ackMs: number | null;
  /** From just before the POST to the alert line in the JSONL file; null when it did not come within the timeout. */
  alertMs: number | null;
  /** The alert's detected_time minus the send time (wall clocks of two processes on one machine). */
  detectedAfterMs: number | null;
  alertId: string | null;
  inserted: number;
}

async function plantAndWait(o: { ingestUrl: string; token: string; follower: JsonlFollower; phase: 'idle' | 'load'; timeoutMs: number; ackStatus: number }): Promise<PlantResult> {
  const plant = plantedDeletion(new Date());
  const sentWall = Date.now();
  const t0 = performance.now();
  let status: number | string = 'error';
  let ackMs: number | null = null;
  let inserted = 0;
  try {
    const res = await fetch(o.ingestUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/x-ndjson' },
      body: `${JSON.stringify(plant.record)}\n`,
      signal: AbortSignal.timeout(o.timeoutMs),
    });
    const body = await res.text();
    ackMs = round(performance.now() - t0);
    status = res.status;
    if (res.status === 200) inserted = (JSON.parse(body) as { inserted: number }).inserted;
  } catch (e) {
    status = e instanceof Error ? e.name : 'error';
  }
  const result: PlantResult = { phase: o.phase, status, ackMs, alertMs: null, detectedAfterMs: null, alertId: null, inserted };
  if (status !== o.ackStatus) return result;
  while (performance.now() - t0 < o.timeoutMs) {
    for (const line of o.follower.poll()) {
      if (!isAlertFor(line, plant)) continue;
      result.alertMs = round(performance.now() - t0);
      result.alertId = line.id ?? null;
      if (line.detected_time) result.detectedAfterMs = Date.parse(line.detected_time) - sentWall;
      return result;
    }
    await sleep(20);
  }
  return result;
}

function serverConfig(o: { server: string; ack: 'stored' | 'spooled'; dataDir: string; listen: string; opsListen: string; token: string; alertsFile: string }): Record<string, unknown> {
  // The request-rate limit (600 a minute per tenant by default) is lifted: this measures what the
  // collector and the store sustain, not the limiter.
  const http: Record<string, unknown> = { listen: o.listen, tokens: [{ tenant: 'acme', token: o.token }], rateLimit: { max: 1_000_000, windowMs: 60_000 } };
  if (o.server === 'serve') http.acknowledge = o.ack;
  const config: Record<string, unknown> = {
    dataDir: o.dataDir,
    http,
    tenants: { '111122223333': 'acme' },
    alerts: { jsonlFile: o.alertsFile },
  };
  // Only serve knows the `service` section; the config is strict, so collect would refuse it.
  if (o.server === 'serve') config.service = { ops: { listen: o.opsListen } };
  return config;
}

async function waitReady(url: string, exited: Promise<unknown>, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  let gone = false;
  void exited.then(() => (gone = true));
  let last = '';
  while (performance.now() - t0 < timeoutMs) {
    if (gone) throw new Error('the server exited before it was ready');
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return round((performance.now() - t0) / 1000, 2);
      last = `${res.status} ${(await res.text()).slice(0, 200)}`;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await sleep(200);
  }
  throw new Error(`the server was not ready at ${url} within ${timeoutMs / 1000} s (last answer: ${last})`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      server: { type: 'string', default: 'serve' },
      ack: { type: 'string' },
      'max-backlog-seconds': { type: 'string', default: '5' },
      'drain-timeout-seconds': { type: 'string', default: '120' },
      events: { type: 'string', default: '200000' },
      batch: { type: 'string', default: '500' },
      connections: { type: 'string', default: '4' },
      start: { type: 'string', default: '1000' },
      'step-seconds': { type: 'string', default: '10' },
      'max-steps': { type: 'string', default: '5' },
      rates: { type: 'string' },
      plants: { type: 'string', default: '3' },
      'background-fraction': { type: 'string', default: '0.5' },
      'alert-timeout-seconds': { type: 'string', default: '30' },
      'no-alerts': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'keywatch-bin': { type: 'string' },
    },
    strict: true,
  });
  const server = values.server as string;
  // Another checkout's bin/keywatch.js can be measured with this harness (its own node_modules).
  const bin = resolve(values['keywatch-bin'] ?? join(REPO_ROOT, 'bin', 'keywatch.js'));
  if (!['collect', 'serve'].includes(server)) throw new Error(`--server must be collect or serve, got ${server}`);
  const ack = (values.ack ?? (server === 'serve' ? 'spooled' : 'stored')) as 'stored' | 'spooled';
  if (ack !== 'stored' && ack !== 'spooled') throw new Error(`--ack must be stored or spooled, got ${ack}`);
  if (ack === 'spooled' && server !== 'serve') throw new Error('--ack spooled needs a spool, which only serve has: use --server serve or --ack stored');
  const ackStatus = ack === 'spooled' ? 202 : 200;
  const drainTimeoutMs = Number(values['drain-timeout-seconds']) * 1000;
  const events = Number(values.events);
  if (!Number.isInteger(events) || events <= 0) throw new Error(`--events must be a positive integer, got ${values.events}`);
  const plants = Number(values.plants);
  const alertTimeoutMs = Number(values['alert-timeout-seconds']) * 1000;

  mkdirSync(OUT_DIR, { recursive: true });
  const at = new Date();
  const loadAvg = loadavg().map((n) => round(n, 2));
  const stamp = at.toISOString().replace(/[:.]/g, '-');
  const prefix = join(OUT_DIR, `serve-${stamp}`);
  const file = await ensureEventsFile({ events, log });

  const work = mkdtempSync(join(tmpdir(), 'keywatch-bench-serve-'));
  if (!values.keep) workDir = work;
  const token = randomBytes(24).toString('hex');
  const [port, opsPort] = [await freePort(), await freePort()];
  const listen = `127.0.0.1:${port}`;
  const baseUrl = `http://${listen}`;
  const ingestUrl = `${baseUrl}/v1/ingest/aws-cloudtrail`;
  const alertsFile = join(work, 'alerts.jsonl');
  const configPath = join(work, 'keywatch.config.json');
  writeFileSync(configPath, JSON.stringify(serverConfig({ server, ack, dataDir: join(work, 'data'), listen, opsListen: `127.0.0.1:${opsPort}`, token, alertsFile }), null, 2), { mode: 0o600 });

  const serverLog = `${prefix}-server.log`;
  const serverFd = openSync(serverLog, 'w');
  const serverArgs = server === 'collect' ? ['collect', '--json', '--config', configPath] : ['serve', '--config', configPath];
  log(`starting node ${relative(REPO_ROOT, bin)} ${serverArgs.join(' ')} (log: ${relative(REPO_ROOT, serverLog)})`);
  const srv = spawn(process.execPath, [bin, ...serverArgs], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', serverFd], env: process.env });
  closeSync(serverFd);
  const { exited: serverExited } = track(srv);
  let serverOut = '';
  srv.stdout?.setEncoding('utf8').on('data', (d: string) => (serverOut += d));
  const pid = srv.pid as number;

  const loadLog = `${prefix}-load.log`;
  let sampler: ReturnType<typeof sampleServer> | undefined;
  let stopped = false;
  const stopServer = async (): Promise<{ code: number | null; signal: NodeJS.Signals | null; seconds: number }> => {
    const t0 = performance.now();
    if (!stopped) {
      stopped = true;
      srv.kill('SIGTERM');
    }
    const timer = setTimeout(() => {
      log('the server did not stop within 30 s of SIGTERM: killing it');
      srv.kill('SIGKILL');
    }, 30_000);
    const r = await serverExited;
    clearTimeout(timer);
    return { ...r, seconds: round((performance.now() - t0) / 1000, 2) };
  };

  try {
    const readyUrl = server === 'serve' ? `http://127.0.0.1:${opsPort}/readyz` : `${baseUrl}/healthz`;
    const readySeconds = await waitReady(readyUrl, serverExited, 120_000).catch((e: unknown) => {
      const tail = readFileSync(serverLog, 'utf8').trim().split('\n').slice(-3).join('\n');
      throw new Error(`node ${relative(REPO_ROOT, bin)} ${server}: ${e instanceof Error ? e.message : String(e)}; its log (${relative(REPO_ROOT, serverLog)}) ends:\n${tail}`);
    });
    log(`server ready after ${readySeconds} s (${readyUrl}); pid ${pid}`);
    sampler = sampleServer(pid);
    const idleRssMb = round(procStatusKb(pid, 'VmRSS') / 1024);

    const metricsUrl = server === 'serve' ? `http://127.0.0.1:${opsPort}/metrics` : null;
    const loadArgs = [
      '--url',
      baseUrl,
      '--file',
      file.path,
      '--batch',
      values.batch as string,
      '--connections',
      values.connections as string,
      '--step-seconds',
      values['step-seconds'] as string,
      '--ack',
      ack,
      ...(metricsUrl ? ['--metrics-url', metricsUrl, '--max-backlog-seconds', values['max-backlog-seconds'] as string] : []),
    ];
    log(values.rates ? `load steps at ${values.rates} events/s` : `searching the sustained rate from ${values.start} events/s, at most ${values['max-steps']} steps of ${values['step-seconds']} s`);
    const search = startLoad(
      [...loadArgs, '--id-prefix', 's', ...(values.rates ? ['--rates', values.rates] : ['--search', '--start', values.start as string, '--max-steps', values['max-steps'] as string])],
      token,
      loadLog,
    );
    const load = await search.result;
    const steps = load.steps.map((s) => ({ ...s, server: windowStats(sampler?.samples ?? [], s.startedAt, s.endedAt) }));
    const keptUp = load.steps.filter((s) => s.keepsUp).map((s) => s.offeredEventsPerSecond);
    const maxKeptUp = keptUp.length > 0 ? Math.max(...keptUp) : null;
    // The plants start on an empty spool, so that their alert time is not the search's backlog.
    const drainAfterSearchSeconds = metricsUrl ? await waitSpoolEmpty(metricsUrl, drainTimeoutMs) : null;
    if (metricsUrl) log(`spool after the search: ${drainAfterSearchSeconds === null ? `not empty within ${drainTimeoutMs / 1000} s` : `empty after ${drainAfterSearchSeconds} s`}`);

    // Event-to-alert: only a server that runs detectors on new events has an alert feed to watch.
    let eventToAlert: Record<string, unknown>;
    let background: LoadResult | null = null;
    const planted: PlantResult[] = [];
    if (values['no-alerts']) {
      eventToAlert = { skipped: '--no-alerts' };
    } else if (server !== 'serve') {
      eventToAlert = { skipped: `the server command "${server}" runs no detectors, so nothing reaches the alert feed; run with --server serve` };
    } else {
      const follower = new JsonlFollower(alertsFile);
      log(`event-to-alert, idle: ${plants} planted ScheduleKeyDeletion records, watching ${alertsFile}`);
      await sleep(2_000);
      for (let i = 0; i < plants; i++) {
        const r = await plantAndWait({ ingestUrl, token, follower, phase: 'idle', timeoutMs: alertTimeoutMs, ackStatus });
        planted.push(r);
        log(`  idle plant ${i + 1}: ack ${r.ackMs} ms, alert ${r.alertMs === null ? `none within ${alertTimeoutMs / 1000} s` : `${r.alertMs} ms`}`);
        if (i === 0 && r.alertMs === null) break;
        await sleep(1_500);
      }
      const baseRate = load.sustainedEventsPerSecond ?? maxKeptUp ?? Number(values.start) / 4;
      const bgRate = Math.max(10, Math.round(baseRate * Number(values['background-fraction'])));
      if (planted[0]?.alertMs !== null && planted.length > 0) {
        log(`event-to-alert under background load of ${bgRate} events/s`);
        const bg = startLoad([...loadArgs, '--id-prefix', 'g', '--rates', String(bgRate), '--step-seconds', '600'], token, loadLog);
        await sleep(3_000);
        for (let i = 0; i < plants; i++) {
          const r = await plantAndWait({ ingestUrl, token, follower, phase: 'load', timeoutMs: alertTimeoutMs, ackStatus });
          planted.push(r);
          log(`  plant under load ${i + 1}: ack ${r.ackMs} ms, alert ${r.alertMs === null ? `none within ${alertTimeoutMs / 1000} s` : `${r.alertMs} ms`}`);
          await sleep(1_500);
        }
        bg.child.kill('SIGTERM');
        background = await bg.result;
      }
      const seen = planted.filter((p) => p.alertMs !== null).map((p) => p.alertMs as number);
      const worst = (phase: string) => {
        const ms = planted.filter((p) => p.phase === phase && p.alertMs !== null).map((p) => p.alertMs as number);
        return ms.length > 0 ? Math.max(...ms) : null;
      };
      eventToAlert = {
        detector: PLANT_DETECTOR,
        feed: 'alerts.jsonlFile',
        backgroundEventsPerSecond: background ? bgRate : null,
        background: background?.steps[0] ? (({ offeredEventsPerSecond, ackedEventsPerSecond, statuses, latencyMs, seconds }) => ({ offeredEventsPerSecond, ackedEventsPerSecond, statuses, latencyMs, seconds }))(background.steps[0]) : null,
        plants: planted,
        maxIdleMs: worst('idle'),
        maxUnderLoadMs: worst('load'),
        maxMs: seen.length > 0 ? Math.max(...seen) : null,
        missed: planted.filter((p) => p.alertMs === null).length,
        note:
          planted[0]?.alertMs === null
            ? `no alert line within ${alertTimeoutMs / 1000} s of the first plant: the server command "${server}" does not seem to run detectors on new events and deliver to alerts.jsonlFile`
            : undefined,
      };
    }

    // What was acknowledged 202 is stored behind: wait for the spool to empty before counting.
    // Replayer throughput = events the HTTP intake stored (/metrics) over the time the spool took to empty.
    let drain: Record<string, unknown> | null = null;
    if (metricsUrl) {
      const before: OpsMetrics = await fetchOpsMetrics(metricsUrl);
      const t0 = performance.now();
      const seconds = before.spoolFiles === 0 ? 0 : await waitSpoolEmpty(metricsUrl, drainTimeoutMs);
      const after: OpsMetrics = await fetchOpsMetrics(metricsUrl);
      const period = (performance.now() - t0) / 1000;
      const storedEvents = after.httpInserted - before.httpInserted;
      drain = {
        backlogFiles: before.spoolFiles,
        backlogBytes: before.spoolBytes,
        seconds,
        drained: seconds !== null,
        storedEvents,
        eventsPerSecond: seconds !== null && seconds > 0 ? Math.round(storedEvents / period) : null,
        afterSearchSeconds: drainAfterSearchSeconds,
        httpInsertedTotal: after.httpInserted,
      };
      log(`spool at the end: ${before.spoolFiles} entries (${before.spoolBytes} bytes), ${seconds === null ? `not empty within ${drainTimeoutMs / 1000} s` : `empty after ${seconds} s`}, ${storedEvents} events stored meanwhile`);
    }

    // With serve, the store is read while the server holds it (through its local API).
    let liveCount: Record<string, unknown> | null = null;
    if (server === 'serve') {
      try {
        liveCount = await countStoredEvents(bin, configPath);
      } catch (e) {
        liveCount = { error: e instanceof Error ? e.message : String(e) };
      }
    }

    const peakRssMb = round(Math.max(procStatusKb(pid, 'VmHWM'), ...(sampler?.samples ?? []).map((s) => s.rssKb)) / 1024);
    sampler?.stop();
    const stop = await stopServer();
    log(`server stopped in ${stop.seconds} s (${stop.signal ?? `exit ${stop.code}`})`);
    const stored = await countStoredEvents(bin, configPath);

    const loads = [load, ...(background ? [background] : [])];
    const ackedEvents = loads.reduce((a, l) => a + l.totals.ackedEvents, 0) + planted.filter((p) => p.status === ackStatus).length;
    // A 202 carries no counts: with spooled acks only the store and /metrics witness what was stored.
    const inserted = ack === 'stored' ? loads.reduce((a, l) => a + l.totals.inserted, 0) + planted.reduce((a, p) => a + p.inserted, 0) : null;
    const notAcknowledgedRequests = loads.reduce((a, l) => a + l.totals.notAcknowledged, 0) + planted.filter((p) => p.status !== ackStatus).length;
    // collect prints its totals as JSON when it stops, serve counts them in /metrics: a second witness.
    const closing = server === 'collect' ? (serverOut.trim().split('\n').pop() ?? '') : '';
    const serverInserted = closing.startsWith('{') ? (JSON.parse(closing) as { inserted: number }).inserted : ((drain?.httpInsertedTotal as number | undefined) ?? null);
    const verify = {
      ack,
      ackedEvents,
      serverReportedInserted: serverInserted,
      insertedByAnswers: inserted,
      storeDistinctEventIds: stored.ids,
      storeRows: stored.rows,
      liveCount,
      notAcknowledgedRequests,
      lateAckedRequests: loads.reduce((a, l) => a + l.totals.lateAckedRequests, 0),
      spoolDrained: drain === null ? null : drain.drained,
      ok: stored.ids === ackedEvents && stored.rows === ackedEvents && (inserted === null || inserted === ackedEvents) && (serverInserted === null || serverInserted === ackedEvents) && drain?.drained !== false,
    };

    const sustained = load.sustainedEventsPerSecond;
    const best = load.steps.find((s) => s.offeredEventsPerSecond === sustained);
    const chdbPackage = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', 'chdb', 'package.json'), 'utf8')) as { version: string };
    const eventToAlertMax = (eventToAlert as { maxMs?: number | null }).maxMs ?? null;
    const result = {
      bench: 'serve',
      server,
      ack,
      batchEvents: load.batchEvents,
      connections: load.connections,
      stepSeconds: load.stepSeconds,
      avgEventBytes: file.avgEventBytes,
      sustainedEventsPerSecond: sustained,
      sustainedStep: best ? { latencyMs: best.latencyMs, ackedEventsPerSecond: best.ackedEventsPerSecond, backlog: best.backlog, spoolDrainSeconds: best.spoolDrainSeconds } : null,
      maxKeptUpEventsPerSecond: maxKeptUp,
      steps,
      drain,
      eventToAlert,
      verify,
      serverProcess: { readySeconds, idleRssMb, peakRssMb, stopSeconds: stop.seconds, exit: stop.signal ?? stop.code },
      target: { p99AckMs: P99_TARGET_MS, eventToAlertSeconds: ALERT_TARGET_S },
      meetsTarget: {
        ack: sustained !== null,
        eventToAlert: planted.length === 0 ? null : eventToAlertMax !== null && eventToAlertMax <= ALERT_TARGET_S * 1000 && planted.every((p) => p.alertMs !== null),
      },
      machine: { cpus: cpus().length, loadAvg, loadAvgEnd: loadavg().map((n) => round(n, 2)), node: process.version, chdb: chdbPackage.version },
      at: at.toISOString(),
    };
    const line = JSON.stringify(result);
    writeFileSync(`${prefix}.json`, `${line}\n`);
    copyFileSync(`${prefix}.json`, join(OUT_DIR, 'serve-latest.json'));
    process.stdout.write(`${line}\n`);
    if (!verify.ok) throw new Error(`the store holds ${stored.ids} distinct events in ${stored.rows} rows, the server acknowledged ${ackedEvents} (answers say ${inserted ?? 'nothing (202)'} inserted, the server ${serverInserted ?? '?'}; ${notAcknowledgedRequests} requests not acknowledged${drain?.drained === false ? '; the spool did not drain' : ''})`);
  } finally {
    sampler?.stop();
    for (const c of children) if (c !== srv) c.kill('SIGTERM');
    if (!stopped) await stopServer();
    if (values.keep) log(`kept ${work}`);
    else {
      rmSync(work, { recursive: true, force: true });
      workDir = undefined;
    }
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:serve: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
