import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { verifyChain } from '../../storage/ledger.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { cloudTrailRecords, countEvents } from './events.ts';

// Fault: `keywatch ingest` is killed with SIGKILL part-way through a file, then run again. The
// rerun must resume from the checkpoint (reading fewer records than the file holds) and the store
// must end with every event of the file exactly once. The CLI runs in child processes; this
// process opens the embedded store only after they are gone (one data directory per process).

const BIN = new URL('../../bin/keywatch.js', import.meta.url).pathname;
const dir = tempDir('keywatch-fault-sigkill-');
afterAll(() => dir.remove());

const TOTAL = 12_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Records stored so far according to the checkpoint files, or 0. */
function checkpointed(dataDir: string): number {
  const cps = join(dataDir, 'checkpoints');
  if (!existsSync(cps)) return 0;
  let n = 0;
  for (const f of readdirSync(cps).filter((f) => f.endsWith('.json'))) {
    try {
      n += (JSON.parse(readFileSync(join(cps, f), 'utf8')) as { records: number }).records;
    } catch {
      // being replaced this instant; read again next time
    }
  }
  return n;
}

describe('file ingest killed with SIGKILL', () => {
  it('resumes from its checkpoint on the rerun and ends with every event stored exactly once', { timeout: 240_000 }, async () => {
    const dataDir = join(dir.path, 'data');
    const file = join(dir.path, 'trail.ndjson.gz');
    const { lines, ids } = cloudTrailRecords(TOTAL, 7);
    writeFileSync(file, gzipSync(lines.join('\n') + '\n'));
    // Small batches, so that the run takes many batches and checkpoints after each.
    const configPath = join(dir.path, 'keywatch.config.json');
    writeFileSync(configPath, JSON.stringify({ ingest: { batchBytes: 1 << 20 } }));
    const args = [BIN, '--data-dir', dataDir, '--config', configPath, 'ingest', '--json', '--no-progress', file];
    const env = { ...process.env, KEYWATCH_DATA_DIR: '', KEYWATCH_LOG_LEVEL: 'warn' };

    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', () => undefined);
    const exited = new Promise<string | null>((r) => child.once('exit', (_code, signal) => r(signal)));
    const deadline = Date.now() + 180_000;
    // Killed once a few batches are durable, well before the end of the file.
    while (checkpointed(dataDir) < 2000) {
      if (child.exitCode !== null) throw new Error(`the first run ended before it could be killed: ${out}`);
      if (Date.now() > deadline) throw new Error('no checkpoint progress within 180 s');
      await sleep(50);
    }
    process.kill(child.pid as number, 'SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const atKill = checkpointed(dataDir);
    expect(atKill).toBeLessThan(TOTAL);

    const rerun = spawnSync(process.execPath, args, { env, encoding: 'utf8', timeout: 180_000 });
    expect(rerun.stderr).toBe('');
    expect(rerun.status).toBe(0);
    const summary = JSON.parse(rerun.stdout) as { read: number; resumedRecords: number; inserted: number; duplicates: number; checkpoints: { resumed: { path: string; records: number }[] } };
    // It resumed: it passed over at least what the checkpoint held and read only the rest.
    expect(summary.resumedRecords).toBeGreaterThanOrEqual(atKill);
    expect(summary.read).toBe(TOTAL - summary.resumedRecords);
    expect(summary.checkpoints.resumed).toEqual([{ path: file, records: summary.resumedRecords }]);

    // A third run finds the file finished and reads nothing.
    const third = spawnSync(process.execPath, args, { env, encoding: 'utf8', timeout: 120_000 });
    expect(third.status).toBe(0);
    expect(JSON.parse(third.stdout)).toMatchObject({ read: 0, checkpoints: { skipped: [file] } });

    const store = await openEmbeddedStore({ dataDir });
    try {
      expect(await countEvents(store, ids)).toEqual({ sent: TOTAL, stored: TOTAL, rows: TOTAL });
      // The chain links; the one finding allowed is the killed batch's raw records without a
      // ledger row, which verify-chain reports as an interrupted ingest.
      const chain = await verifyChain(store);
      expect(chain.findings.filter((f) => !(f.code === 'batch_missing' && f.seqno === 0))).toEqual([]);
      expect(chain.findings.length).toBeLessThanOrEqual(1);
    } finally {
      await store.close();
    }
  });
});
