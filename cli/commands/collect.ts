import { Command } from 'commander';
import { systemClock } from '../../core/clock.ts';
import { createLogger } from '../../core/logger.ts';
import { openSpool, spoolDir } from '../../ingest/spool.ts';
import { SPOOL_DRAIN_ON_STOP_MS, startSpoolReplayer, withReplayed } from '../../ingest/spool-replayer.ts';
import { parseListen, startHttpCollector, type HttpCollectorStats } from '../../ingest/transports/http.ts';
import { withStore, type GlobalOptions } from '../context.ts';

export function formatCollectSummary(s: HttpCollectorStats): string {
  const reasons = (o: Record<string, number>) =>
    Object.keys(o).length === 0 ? '' : ` (${Object.entries(o).sort(([, a], [, b]) => b - a).map(([k, v]) => `${k}: ${v}`).join(', ')})`;
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, n) => a + n, 0);
  const statuses = Object.entries(s.byStatus).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}: ${v}`).join(', ');
  return [
    `requests     ${s.requests}${statuses ? ` (${statuses})` : ''}`,
    `read         ${s.read} records, ${(s.bytes / 1e6).toFixed(1)} MB`,
    `normalized   ${s.normalized}`,
    `inserted     ${s.inserted}`,
    `duplicates   ${s.duplicates} (already in the store or repeated in a request)`,
    `dropped      ${sum(s.dropped)}${reasons(s.dropped)}`,
    `quarantined  ${sum(s.quarantined)}${reasons(s.quarantined)}`,
    `batches      ${s.batches}${s.chainHead ? `, chain head ${s.chainHead.slice(0, 16)}` : ''}`,
  ].join('\n');
}

/** `stopped` resolves with the first SIGINT or SIGTERM; a second one gets Node's default (immediate exit). */
function untilStopped(): { stopped: Promise<NodeJS.Signals>; dispose(): void } {
  let stop!: (signal: NodeJS.Signals) => void;
  const dispose = () => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  };
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    stop = (signal) => {
      dispose();
      resolve(signal);
    };
  });
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return { stopped, dispose };
}

export function collectCommand(globals: () => GlobalOptions): Command {
  return new Command('collect')
    .description('receive audit records pushed over HTTP (POST /v1/ingest/{format}) until SIGINT or SIGTERM')
    .option('--listen <host:port>', 'address to listen on (default http.listen from the config, 127.0.0.1:8080)')
    .option('--insecure-no-auth', 'accept requests without a token when none is configured (loopback addresses only)')
    .option('--json', 'print the closing summary as JSON')
    .action(async (opts: { listen?: string; insecureNoAuth?: boolean; json?: boolean }) => {
      // Taken before the server starts, so a signal that arrives right after "listening" is not lost.
      const signals = untilStopped();
      // A server logs its requests: info unless KEYWATCH_LOG_LEVEL says otherwise.
      const log = createLogger(process.env.KEYWATCH_LOG_LEVEL ?? 'info');
      const stats = await withStore(globals(), async (store, config) => {
        const { host, port } = parseListen(opts.listen ?? config.http.listen);
        // Bodies the store cannot take now wait fsync'd in the spool; the replayer stores them in order.
        const spool = openSpool({ dir: spoolDir(config), maxBytes: config.spool.maxBytes, clock: systemClock, logger: log });
        const replayer = startSpoolReplayer({ spool, store, config, clock: systemClock, logger: log });
        const collector = await startHttpCollector({ store, config, clock: systemClock, logger: log, host, port, insecureNoAuth: opts.insecureNoAuth === true, spool }).catch(async (e: unknown) => {
          await replayer.stop();
          throw e;
        });
        process.stdout.write(`listening on ${collector.address}\n`);
        const signal = await signals.stopped;
        log.info({ signal }, 'stopping: answering the requests in flight');
        const stats = await collector.close();
        await replayer.stop({ drainMs: SPOOL_DRAIN_ON_STOP_MS });
        return withReplayed(stats, replayer.stats());
      }, { remote: { refuse: 'it already runs the HTTP collector on its http.listen address' } }).finally(signals.dispose);
      process.stdout.write(opts.json ? JSON.stringify(stats) + '\n' : formatCollectSummary(stats) + '\n');
    });
}
