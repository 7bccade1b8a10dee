import { Command } from 'commander';
import { systemClock } from '../../core/clock.ts';
import { createLogger } from '../../core/logger.ts';
import {
  checkKafkaSettings,
  fetchKafkaLag,
  startKafkaConsumers,
  type KafkaBatchSummary,
  type KafkaTotals,
  type PartitionLag,
} from '../../ingest/transports/kafka.ts';
import { configFrom, withStore, type GlobalOptions } from '../context.ts';

const reasons = (o: Record<string, number>) =>
  Object.keys(o).length === 0 ? '' : ` (${Object.entries(o).sort(([, a], [, b]) => b - a).map(([k, v]) => `${k}: ${v}`).join(', ')})`;
const sum = (o: Record<string, number>) => Object.values(o).reduce((a, n) => a + n, 0);

export function formatBatch(b: KafkaBatchSummary): string {
  const extra = [b.tombstones > 0 ? `${b.tombstones} tombstones` : '', b.deadLettered > 0 ? `${b.deadLettered} dead-lettered` : '', b.storeRetries > 0 ? `${b.storeRetries} store retries` : '']
    .filter(Boolean)
    .map((s) => `, ${s}`)
    .join('');
  return (
    `kafka://${b.topic}/${b.partition} offsets ${b.firstOffset}..${b.lastOffset}: ${b.messages} messages, ${b.records} records, ` +
    `${b.inserted} inserted, ${b.duplicates} duplicates, ${sum(b.quarantined)} quarantined${reasons(b.quarantined)}, ${sum(b.dropped)} dropped${reasons(b.dropped)}${extra}; committed ${b.committedOffset}`
  );
}

export function formatLag(lag: readonly PartitionLag[]): string {
  const rows = [['partition', 'committed', 'high', 'lag'], ...lag.map((p) => [`${p.topic}/${p.partition}`, p.committedOffset === null ? '-' : String(p.committedOffset), String(p.highWatermark), String(p.lag)])];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => (r[i] as string).length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ')).join('\n');
}

export function formatTotals(t: KafkaTotals, seconds: number, deadLetterTopic: string | undefined): string {
  return [
    `consumed     ${t.messages} messages in ${t.batches} batches over ${seconds.toFixed(1)} s (${t.tombstones} without a record)`,
    `records      ${t.records}`,
    `inserted     ${t.inserted}`,
    `duplicates   ${t.duplicates} (already in the store, or delivered again)`,
    `dropped      ${sum(t.dropped)}${reasons(t.dropped)}`,
    `quarantined  ${sum(t.quarantined)}${reasons(t.quarantined)}`,
    ...(deadLetterTopic ? [`dead-letter  ${t.deadLettered} copied to ${deadLetterTopic}`] : []),
    `retries      ${t.storeRetries} store retries, ${Math.max(0, t.groupJoins - 1)} rebalances`,
  ].join('\n');
}

export function consumeCommand(globals: () => GlobalOptions): Command {
  return new Command('consume')
    .description('run the configured Kafka consumers (kafka.brokers, kafka.topics) and store what they read, until SIGTERM or SIGINT')
    .option('--status', "print the group's committed offset, high watermark and lag per partition, and exit")
    .option('--json', 'JSON output: one object per stored batch, then the totals (with --status: the lag as an array)')
    .action(async (opts: { status?: boolean; json?: boolean }) => {
      const out = (line: string) => process.stdout.write(`${line}\n`);
      const log = createLogger();
      // Usage errors before the store is opened or a broker is contacted.
      const config = configFrom(globals());
      checkKafkaSettings(config.kafka);

      if (opts.status) {
        const lag = await fetchKafkaLag(config.kafka, log);
        out(opts.json ? JSON.stringify(lag) : formatLag(lag));
        return;
      }

      await withStore(globals(), async (store, cfg) => {
        const t0 = performance.now();
        const consumers = await startKafkaConsumers({
          store,
          config: cfg,
          clock: systemClock,
          logger: log,
          onBatch: (b) => out(opts.json ? JSON.stringify({ type: 'batch', ...b }) : formatBatch(b)),
        });
        if (!opts.json) out(`consuming ${cfg.kafka.topics.map((t) => t.topic).join(', ')} as group ${cfg.kafka.groupId}; stop with SIGTERM or Ctrl-C`);

        // The first signal stops cleanly (the batch in flight is stored and committed); a second one
        // exits at once, and that batch is delivered again next time.
        let onSignal: (sig: NodeJS.Signals) => void = () => undefined;
        const signalled = new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve));
        const first = (sig: NodeJS.Signals) => {
          process.removeListener('SIGTERM', first);
          process.removeListener('SIGINT', first);
          process.once('SIGTERM', () => process.exit(143));
          process.once('SIGINT', () => process.exit(130));
          onSignal(sig);
        };
        process.on('SIGTERM', first);
        process.on('SIGINT', first);
        try {
          // `done` rejects when the consumers stop on an error retrying cannot fix.
          const sig = await Promise.race([signalled, consumers.done.then(() => undefined)]);
          log.info({ signal: sig }, 'stopping the Kafka consumers');
        } finally {
          process.removeListener('SIGTERM', first);
          process.removeListener('SIGINT', first);
          await consumers.stop();
        }
        await consumers.done;
        const totals = consumers.totals();
        const seconds = (performance.now() - t0) / 1000;
        let lag: PartitionLag[] | undefined;
        try {
          lag = await consumers.lag();
        } catch (e) {
          log.warn({ err: (e as Error).message }, 'could not read the consumer lag at shutdown');
        }
        if (opts.json) {
          out(JSON.stringify({ type: 'totals', ...totals, seconds, ...(lag ? { lag } : {}) }));
        } else {
          out(formatTotals(totals, seconds, cfg.kafka.deadLetterTopic));
          if (lag) out(formatLag(lag));
        }
      }, { remote: { refuse: 'it already runs the Kafka consumers of kafka.topics' } });
    });
}
