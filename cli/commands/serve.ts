import { Command } from 'commander';
import { systemClock, type Clock } from '../../core/clock.ts';
import type { Config } from '../../core/config.ts';
import { KeywatchError } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/logger.ts';
import { startService, type RunningService } from '../../service/serve.ts';
import { EXIT } from '../exit-codes.ts';
import { configFrom, type GlobalOptions } from '../context.ts';

/**
 * Runs the service until SIGTERM or SIGINT, then stops it gracefully within
 * `service.shutdownTimeoutMs`; past that, logs what was still running and exits 1. A second
 * signal exits at once (130 / 143). `onStarted` sees the running service (the demo feeds it) and
 * may return what to stop before the service stops.
 */
export async function runService(o: {
  config: Config;
  clock?: Clock;
  logger: Logger;
  onStarted?: (svc: RunningService) => Promise<(() => Promise<void>) | void>;
}): Promise<void> {
  let signalled: (s: NodeJS.Signals) => void = () => undefined;
  const signal = new Promise<NodeJS.Signals>((resolve) => (signalled = resolve));
  const first = (sig: NodeJS.Signals) => {
    process.removeListener('SIGTERM', first);
    process.removeListener('SIGINT', first);
    process.once('SIGTERM', () => process.exit(143));
    process.once('SIGINT', () => process.exit(130));
    signalled(sig);
  };
  // Taken before anything starts, so a signal during start-up is not lost.
  process.on('SIGTERM', first);
  process.on('SIGINT', first);
  let svc: RunningService;
  try {
    svc = await startService({ config: o.config, clock: o.clock ?? systemClock, logger: o.logger });
  } catch (e) {
    process.removeListener('SIGTERM', first);
    process.removeListener('SIGINT', first);
    throw e;
  }
  // One line on stdout for whoever started the process (a supervisor, a bench, a test): where it listens.
  process.stdout.write(JSON.stringify({ event: 'started', pid: process.pid, ...svc.addresses }) + '\n');
  let beforeStop: (() => Promise<void>) | void = undefined;
  if (o.onStarted) {
    try {
      beforeStop = await o.onStarted(svc);
    } catch (e) {
      await svc.stop('start-up failed');
      throw e;
    }
  }
  let failure: unknown;
  const reason = await Promise.race([
    signal,
    svc.failed.catch((e: unknown) => {
      failure = e;
      return 'failure' as const;
    }),
  ]);
  const limit = o.config.service.shutdownTimeoutMs;
  const t0 = performance.now();
  const forced = setTimeout(() => {
    o.logger.error({ reason, timeoutMs: limit }, 'graceful shutdown did not finish in time; exiting forcibly');
    process.exit(EXIT.INTERNAL);
  }, limit);
  if (beforeStop) await beforeStop().catch((e: unknown) => o.logger.warn({ err: (e as Error).message }, 'stopping the demo traffic failed'));
  await svc.stop(String(reason));
  clearTimeout(forced);
  o.logger.info({ reason, seconds: Number(((performance.now() - t0) / 1000).toFixed(3)) }, 'shutdown complete');
  if (failure) throw new KeywatchError('TRANSPORT_UNAVAILABLE', `keywatch serve stopped: ${(failure as Error).message}`, { cause: failure });
  // A client library that keeps a handle open must not keep a stopped service alive.
  setTimeout(() => process.exit(process.exitCode ?? 0), 1_000).unref();
}

export function serveCommand(globals: () => GlobalOptions): Command {
  return new Command('serve')
    .description('run keywatch as a service: HTTP collector, Kafka consumers, scheduled detectors, SLOs, probes and reports, with /healthz, /readyz and /metrics, until SIGTERM or SIGINT')
    .action(async () => {
      const config = configFrom(globals());
      // A service logs as it goes: info unless KEYWATCH_LOG_LEVEL says otherwise; JSON lines on stderr.
      const logger = createLogger(process.env.KEYWATCH_LOG_LEVEL ?? 'info');
      await runService({ config, logger });
    });
}
