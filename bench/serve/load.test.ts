import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlertFor, JsonlFollower, PLANT_DETECTOR, plantedDeletion } from './incident.ts';
import { BatchSource, nextRate, runStep, waitSpoolEmpty, type Answer } from './load.ts';
import { metricValue, parseOpsMetrics, summarizeBacklog } from './ops-metrics.ts';
import { summarize } from './percentiles.ts';

const dir = mkdtempSync(join(tmpdir(), 'keywatch-bench-serve-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('summarize', () => {
  it('gives nearest-rank percentiles, so p99 of fewer than 100 samples is the maximum', () => {
    const s = summarize(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(s).toMatchObject({ count: 50, p50: 25, p95: 48, p99: 50, max: 50, mean: 25.5 });
    expect(summarize(Array.from({ length: 1000 }, (_, i) => i + 1)).p99).toBe(990);
  });

  it('reports zeros for a step without answers', () => {
    expect(summarize([])).toEqual({ count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 });
  });
});

describe('nextRate', () => {
  const step = (rate: number, keepsUp: boolean, passed = keepsUp) => ({ offeredEventsPerSecond: rate, keepsUp, passed });

  it('doubles while the server keeps up and meets the latency limit', () => {
    expect(nextRate([step(1000, true)], 100)).toBe(2000);
    expect(nextRate([step(1000, true), step(2000, true)], 100)).toBe(4000);
  });

  it('halves from a first step that falls behind, down to the floor', () => {
    expect(nextRate([step(1000, false)], 100)).toBe(500);
    expect(nextRate([step(150, false)], 100)).toBeNull();
  });

  it('bisects the keep-up bracket, then the latency bracket, and stops within 15%', () => {
    expect(nextRate([step(1000, true), step(2000, true), step(4000, false)], 100)).toBe(3000);
    // Kept up to 3000 but p99 only held at 1000: the latency bracket [1000, 2000] comes next.
    expect(nextRate([step(1000, true), step(2000, true, false), step(4000, false), step(3000, true, false), step(3500, false)], 100)).toBe(1500);
    expect(nextRate([step(1000, true), step(1100, false)], 100)).toBeNull();
  });

  it('halves the lowest rate once the keep-up bracket is narrow and no step met the latency limit', () => {
    expect(nextRate([step(1000, true, false), step(1100, false)], 100)).toBe(500);
    expect(nextRate([step(1000, true, false), step(1100, false), step(500, true, false), step(250, true, false), step(125, true, false)], 100)).toBeNull();
  });
});

describe('BatchSource', () => {
  it('cycles through the file and gives every record of every pass an event id of its own', () => {
    const file = join(dir, 'three.ndjson');
    writeFileSync(file, ['a', 'b', 'c'].map((id) => JSON.stringify({ eventID: id, eventName: 'Decrypt' })).join('\n') + '\n');
    const source = new BatchSource(file, 'x');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const body = source.next(2).toString('utf8');
      expect(body.endsWith('\n')).toBe(true);
      for (const line of body.trim().split('\n')) ids.push((JSON.parse(line) as { eventID: string }).eventID);
    }
    source.close();
    expect(ids).toEqual(['xp0-a', 'xp0-b', 'xp0-c', 'xp1-a', 'xp1-b', 'xp1-c', 'xp2-a', 'xp2-b']);
  });
});

describe('the planted incident and the alert file', () => {
  it('matches the planted key only in an alert of the deletion detector, and reads only complete appended lines', () => {
    const plant = plantedDeletion(new Date('2026-11-29T17:00:00Z'));
    expect(plant.record).toMatchObject({ eventName: 'ScheduleKeyDeletion', eventID: plant.eventId, eventTime: '2026-11-29T17:00:00Z' });
    const path = join(dir, 'alerts.jsonl');
    writeFileSync(path, JSON.stringify({ detector: PLANT_DETECTOR, key_id: plant.keyArn }) + '\n');
    // Lines that were there before the follower started are not new alerts.
    const follower = new JsonlFollower(path);
    expect(follower.poll()).toEqual([]);
    appendFileSync(path, JSON.stringify({ detector: 'admin-off-hours', key_id: '', event_ids: [plant.eventId] }) + '\n{"detector":"key-dis');
    const first = follower.poll();
    expect(first).toHaveLength(1);
    expect(isAlertFor(first[0]!, plant)).toBe(false);
    appendFileSync(path, `abled-or-deleted","key_id":"${plant.keyArn}","id":"a1"}\n`);
    const second = follower.poll();
    expect(second).toEqual([{ detector: PLANT_DETECTOR, key_id: plant.keyArn, id: 'a1' }]);
    expect(isAlertFor(second[0]!, plant)).toBe(true);
    expect(isAlertFor(second[0]!, plantedDeletion(new Date()))).toBe(false);
  });
});

describe('runStep', () => {
  let server: Server;
  let url: URL;
  const received: number[] = [];
  beforeAll(async () => {
    let n = 0;
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString('utf8')));
      req.on('end', () => {
        const lines = body.trim().split('\n').length;
        received.push(lines);
        // Every fifth request is refused as the collector does when its queue is full.
        const status = ++n % 5 === 0 ? 429 : 200;
        setTimeout(() => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(status === 200 ? { inserted: lines, duplicates: 0, quarantined: {} } : { error: { code: 'too_many_requests' } }));
        }, 30);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}/v1/ingest/aws-cloudtrail`);
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('sends batches at the offered rate, counts answers by status and fails a step with refusals', async () => {
    const file = join(dir, 'many.ndjson');
    writeFileSync(file, Array.from({ length: 100 }, (_, i) => JSON.stringify({ eventID: `e${i}` })).join('\n') + '\n');
    const source = new BatchSource(file, 't');
    const agent = new Agent({ keepAlive: true, maxSockets: 2 });
    const r = await runStep({ url, token: 't'.repeat(32), source, agent, rate: 200, batch: 10, seconds: 1, p99Ms: 200, drainMs: 5_000, giveUpMs: 5_000, stopped: () => false });
    agent.destroy();
    source.close();
    expect(r.requests).toBe(20);
    expect(received.reduce((a, n) => a + n, 0)).toBe(200);
    expect(r.statuses).toEqual({ '200': 16, '429': 4 });
    expect(r.ackedEvents).toBe(160);
    expect(r.inserted).toBe(160);
    expect(r.latencyMs.count).toBe(16);
    expect(r.latencyMs.p50).toBeGreaterThanOrEqual(30);
    expect(r.keepsUp).toBe(false);
    expect(r.passed).toBe(false);
  });

  it('hands the requests still open at the drain limit over as late, and they are answered later', async () => {
    const file = join(dir, 'few.ndjson');
    writeFileSync(file, Array.from({ length: 10 }, (_, i) => JSON.stringify({ eventID: `f${i}` })).join('\n') + '\n');
    const source = new BatchSource(file, 'l');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const late = new Set<Promise<Answer>>();
    const r = await runStep({ url, token: 't'.repeat(32), source, agent, rate: 100, batch: 5, seconds: 0.1, p99Ms: 200, drainMs: 1, giveUpMs: 5_000, stopped: () => false, late });
    expect(r.requests).toBe(2);
    expect(r.statuses.unanswered).toBe(2 - r.ackedRequests - (r.statuses['429'] ?? 0));
    expect(late.size).toBe(r.statuses.unanswered);
    expect(late.size).toBeGreaterThan(0);
    const answers = await Promise.all(late);
    agent.destroy();
    source.close();
    expect(answers.every((a) => a.status === 200 || a.status === 429)).toBe(true);
  });
});

describe('the spool backlog from /metrics', () => {
  const text = [
    '# HELP keywatch_spool_files Files in the HTTP collector spool waiting to be stored.',
    '# TYPE keywatch_spool_files gauge',
    'keywatch_spool_files 3',
    'keywatch_spool_bytes 1950000',
    'keywatch_events_inserted_total{transport="kafka"} 7',
    'keywatch_events_inserted_total{transport="http"} 12500',
    'keywatch_spool_files_extra 99',
  ].join('\n');

  it('reads the spool gauges and the HTTP inserted counter, matching names and labels exactly', () => {
    expect(parseOpsMetrics(text)).toEqual({ spoolFiles: 3, spoolBytes: 1950000, httpInserted: 12500 });
    expect(metricValue(text, 'keywatch_events_inserted_total', { transport: 'kafka' })).toBe(7);
    expect(metricValue(text, 'keywatch_events_inserted_total', { transport: 'file' })).toBeNull();
    expect(metricValue(text, 'keywatch_spool_files_extra')).toBe(99);
  });

  it('refuses an answer without spool gauges, and counts nothing inserted before the first insert', () => {
    expect(() => parseOpsMetrics('keywatch_events_inserted_total{transport="http"} 1\n')).toThrow(/keywatch_spool_files/);
    expect(parseOpsMetrics('keywatch_spool_files 0\nkeywatch_spool_bytes 0\n').httpInserted).toBe(0);
  });

  const step = { stepMs: 9_000, batch: 500, rate: 1000, maxBacklogSeconds: 5 };
  const series = (files: number[]) => files.map((f, i) => ({ atMs: i * 1000, files: f, bytes: f * 650_000 }));

  it('says the store keeps up when the backlog stays flat and small', () => {
    const b = summarizeBacklog(series([1, 2, 2, 3, 2, 3, 2, 3, 2, 2]), step);
    expect(b).toMatchObject({ endFiles: 2, endEvents: 1000, endSeconds: 1, maxFiles: 3, growing: false, storeKeepsUp: true });
  });

  it('takes a sawtooth backlog, as the replayer empties many entries at a time, for a store that keeps up', () => {
    const b = summarizeBacklog(series([0, 6, 0, 6, 0, 6, 0, 6, 0, 6]), step);
    expect(b.growing).toBe(false);
    expect(b).toMatchObject({ endFiles: 6, endSeconds: 3, storeKeepsUp: true });
  });

  it('says the store does not keep up when the backlog grows through the step', () => {
    const b = summarizeBacklog(series([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), step);
    expect(b.growing).toBe(true);
    expect(b.storeKeepsUp).toBe(false);
  });

  it('says the store does not keep up when a flat backlog holds more seconds of load than allowed', () => {
    const b = summarizeBacklog(series([12, 12, 12, 12, 12, 12, 12, 12, 12, 12]), step);
    expect(b).toMatchObject({ growing: false, endSeconds: 6, storeKeepsUp: false });
  });
});

describe('runStep with spooled acknowledgements', () => {
  let server: Server;
  let base: string;
  let spoolFiles = 0;
  let inserted = 0;
  beforeAll(async () => {
    let n = 0;
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`keywatch_spool_files ${spoolFiles}\nkeywatch_spool_bytes ${spoolFiles * 100}\nkeywatch_events_inserted_total{transport="http"} ${inserted}\n`);
        return;
      }
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString('utf8')));
      req.on('end', () => {
        const lines = body.trim().split('\n').length;
        // Every fourth request is answered 200 with counts, as a collector acknowledging `stored` would.
        const status = ++n % 4 === 0 ? 200 : 202;
        spoolFiles++;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(status === 202 ? { requestId: `r${n}`, tenant: 'acme', format: 'aws-cloudtrail', spooled: true, bytes: body.length, spool: { entries: spoolFiles, bytes: 0 } } : { inserted: lines, duplicates: 0, quarantined: {} }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('counts only 202 answers as acknowledged, reads no counts from them, and samples the spool backlog', async () => {
    const file = join(dir, 'spooled.ndjson');
    writeFileSync(file, Array.from({ length: 50 }, (_, i) => JSON.stringify({ eventID: `s${i}` })).join('\n') + '\n');
    const source = new BatchSource(file, 'q');
    const agent = new Agent({ keepAlive: true, maxSockets: 2 });
    const r = await runStep({ url: new URL('/v1/ingest/aws-cloudtrail', base), token: 't'.repeat(32), source, agent, rate: 100, batch: 10, seconds: 1.2, p99Ms: 200, drainMs: 5_000, giveUpMs: 5_000, stopped: () => false, ackStatus: 202, metricsUrl: `${base}/metrics`, sampleMs: 200 });
    agent.destroy();
    source.close();
    expect(r.requests).toBe(12);
    expect(r.statuses).toEqual({ '200': 3, '202': 9 });
    expect(r.ackStatus).toBe(202);
    expect(r.ackedEvents).toBe(90);
    expect(r.inserted).toBe(0);
    expect(r.acksKeepUp).toBe(false);
    expect(r.passed).toBe(false);
    expect(r.insertedAtStart).toBe(0);
    // The fake spool only grows: the backlog is growing and ends at the 12 entries.
    expect(r.backlog).toMatchObject({ endFiles: 12, endEvents: 120, growing: true, storeKeepsUp: false });
    expect(r.backlog?.samples).toBeGreaterThanOrEqual(3);
  });

  it('waits for the spool to empty and says how long that took, or gives up at the limit', async () => {
    spoolFiles = 4;
    expect(await waitSpoolEmpty(`${base}/metrics`, 300)).toBeNull();
    setTimeout(() => {
      spoolFiles = 0;
      inserted = 40;
    }, 300);
    const seconds = await waitSpoolEmpty(`${base}/metrics`, 5_000);
    expect(seconds).not.toBeNull();
    expect(seconds as number).toBeGreaterThanOrEqual(0.2);
  });
});
