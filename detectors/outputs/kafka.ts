import type { Config } from '../../core/config.ts';
import { createLogger, type Logger } from '../../core/logger.ts';
import { openKafkaProducer } from '../../ingest/transports/kafka.ts';
import type { Destination, OutboxEntry, RetryPolicy, SendOutcome } from './outbox.ts';
import { renderAlert } from './webhook.ts';

/**
 * The Kafka destination: each alert is one message on the configured topic, keyed by the alert
 * id (so every revision of an alert lands on the same partition, in order), its value the JSONL
 * object or the OCSF finding. Headers: `keywatch-alert-id`, `keywatch-revision`,
 * `keywatch-activity`, `content-type`. It uses the cluster settings of `kafka` (brokers, ssl,
 * sasl) through the Kafka transport's producer, with acks from all in-sync replicas.
 *
 * A broker that cannot be reached, or an error the broker calls retriable, is retried; a message
 * the broker refuses for itself (too large, invalid) is dead.
 *
 * @example const k = kafkaDestination(config.kafka, { topic: 'keywatch-alerts', format: 'ocsf', retry });
 */
export interface KafkaAlertSettings {
  topic: string;
  format: 'json' | 'ocsf';
  retry: RetryPolicy;
}

export const KAFKA_ALERT_HEADERS = { alertId: 'keywatch-alert-id', revision: 'keywatch-revision', activity: 'keywatch-activity' } as const;

// Protocol errors about the message itself: sending it again cannot succeed (Kafka protocol error codes).
const MESSAGE_ERRORS = new Set(['MESSAGE_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_REQUIRED_ACKS']);

function classify(e: unknown): SendOutcome {
  const err = e as Error & { type?: string; retriable?: boolean };
  const what = `${err?.name ?? 'Error'}${err?.type ? ` ${err.type}` : ''}: ${err?.message ?? String(e)}`;
  if (err?.retriable === false && err.type && MESSAGE_ERRORS.has(err.type)) return { result: 'dead', error: what };
  return { result: 'retry', error: what };
}

export function kafkaDestination(cluster: Config['kafka'], s: KafkaAlertSettings, logger: Logger = createLogger()): Destination {
  let producer: Awaited<ReturnType<typeof openKafkaProducer>> | undefined;
  return {
    id: 'kafka',
    retry: s.retry,
    send: async (entries: readonly OutboxEntry[]) => {
      if (entries.length === 0) return [];
      try {
        producer ??= await openKafkaProducer(cluster, logger);
      } catch (e) {
        const outcome = classify(e);
        return entries.map(() => outcome);
      }
      const out: SendOutcome[] = [];
      for (const [i, entry] of entries.entries()) {
        try {
          await producer.send(s.topic, [
            {
              key: entry.alertId,
              value: renderAlert(entry, s.format),
              headers: { [KAFKA_ALERT_HEADERS.alertId]: entry.alertId, [KAFKA_ALERT_HEADERS.revision]: entry.revision, [KAFKA_ALERT_HEADERS.activity]: entry.activity, 'content-type': 'application/json' },
            },
          ]);
          out.push({ result: 'delivered' });
        } catch (e) {
          const outcome = classify(e);
          out.push(outcome);
          // A cluster that is gone is gone for the rest too: they are not tried, and count as failed the same way.
          if (outcome.result === 'retry') {
            out.push(...entries.slice(i + 1).map(() => outcome));
            break;
          }
        }
      }
      return out;
    },
    close: async () => {
      const p = producer;
      producer = undefined;
      try {
        await p?.disconnect();
      } catch (e) {
        logger.warn({ err: (e as Error).message }, 'could not disconnect the Kafka alert producer cleanly');
      }
    },
  };
}
