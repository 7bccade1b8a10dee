import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { KeywatchError } from './errors.ts';

/**
 * keywatch configuration. Sources, later ones winning: defaults in this schema, the JSON file
 * given with --config (or ./keywatch.config.json when present), environment variables
 * (KEYWATCH_*), then command-line flags.
 *
 * @example loadConfig({ configPath: 'keywatch.config.json', env: process.env, flags: { dataDir: '/var/lib/keywatch' } })
 */
/** Which alerts a destination takes; a list left out takes everything. */
const AlertRoute = z
  .object({
    severities: z.array(z.enum(['info', 'low', 'medium', 'high', 'critical'])).min(1).optional(),
    detectors: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict();

/** A signed webhook destination: POSTs each alert as JSON, X-Keywatch-Signature: sha256=<hex HMAC-SHA256 of the body>. */
const Webhook = z
  .object({
    url: z.string().url().regex(/^https?:\/\//i, 'an http:// or https:// URL'),
    /** The HMAC-SHA256 key; KEYWATCH_WEBHOOK_SECRET in the environment overrides it. */
    secret: z.string().min(16, 'at least 16 characters').optional(),
    /** `json`: the JSONL object; `ocsf`: an OCSF Detection Finding (class 2004). */
    format: z.enum(['json', 'ocsf']).default('json'),
    timeoutMs: z.number().int().positive().default(10_000),
    maxAttempts: z.number().int().min(1).default(8),
    baseDelayMs: z.number().int().positive().default(1_000),
    maxDelayMs: z.number().int().positive().default(300_000),
    only: AlertRoute.optional(),
  })
  .strict();

export const Config = z
  .object({
    dataDir: z.string().min(1).default('./keywatch-data'),
    clickhouse: z
      .object({
        url: z.string().url().optional(),
        username: z.string().default('default'),
        password: z.string().default(''),
        database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a plain identifier').default('keywatch'),
        requestTimeoutMs: z.number().int().positive().default(30_000),
        /** Emit ON CLUSTER / Replicated / Distributed DDL for this cluster name. */
        cluster: z.string().min(1).optional(),
      })
      .strict()
      .default({ username: 'default', password: '', database: 'keywatch', requestTimeoutMs: 30_000 }),
    /** Account, project, subscription or partition -> tenant. */
    tenants: z.record(z.string(), z.string().min(1)).default({}),
    defaultTenant: z.string().min(1).default('default'),
    retention: z
      .object({
        /** Days to keep key_events; 0 keeps them forever. */
        keyEventsDays: z.number().int().nonnegative().default(0),
        rawEventsDays: z.number().int().nonnegative().default(0),
        quarantineDays: z.number().int().nonnegative().default(0),
      })
      .strict()
      .default({ keyEventsDays: 0, rawEventsDays: 0, quarantineDays: 0 }),
    ingest: z
      .object({
        /** Records are inserted in batches of about this many bytes. */
        batchBytes: z.number().int().min(1024).default(16 * 1024 * 1024),
        /** A single record larger than this is quarantined as `record_too_large`. */
        maxRecordBytes: z.number().int().min(1024).default(4 * 1024 * 1024),
        /** A JSON file of extra Luna audit-line layouts (ingest/luna-hsm/README.md); KEYWATCH_LUNA_LAYOUTS does the same. */
        lunaLayoutsFile: z.string().min(1).optional(),
      })
      .strict()
      .default({ batchBytes: 16 * 1024 * 1024, maxRecordBytes: 4 * 1024 * 1024 }),
    /** The HTTP push collector (`keywatch collect --listen`, and later `keywatch serve`). */
    http: z
      .object({
        listen: z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'HOST:PORT').default('127.0.0.1:8080'),
        /**
         * Bearer tokens, each fixing the tenant of what it sends. A token may also come from the
         * environment: KEYWATCH_HTTP_TOKEN_<TENANT>=<token> (tenant upper-cased, - as _).
         */
        tokens: z.array(z.object({ tenant: z.string().min(1), token: z.string().min(16, 'at least 16 characters') }).strict()).default([]),
        /** Largest accepted request body, after decompression. */
        maxBodyBytes: z.number().int().min(1024).default(16 * 1024 * 1024),
        /** Requests waiting for the store beyond this many are answered 429. */
        maxQueuedRequests: z.number().int().positive().default(16),
      })
      .strict()
      .default({ listen: '127.0.0.1:8080', tokens: [], maxBodyBytes: 16 * 1024 * 1024, maxQueuedRequests: 16 }),
    /**
     * Where HTTP push bodies wait, fsync'd, while the store is unreachable (ingest/spool.ts); they
     * are replayed in order when it answers again. A full spool makes the collector answer 503.
     */
    spool: z
      .object({
        /** Default: `<dataDir>/spool`. */
        dir: z.string().min(1).optional(),
        maxBytes: z.number().int().min(64 * 1024).default(1024 * 1024 * 1024),
      })
      .strict()
      .default({ maxBytes: 1024 * 1024 * 1024 }),
    /** Kafka consumers. */
    kafka: z
      .object({
        brokers: z.array(z.string().regex(/^[A-Za-z0-9.\[\]:-]+:\d{1,5}$/, 'HOST:PORT')).default([]),
        clientId: z.string().min(1).default('keywatch'),
        groupId: z.string().min(1).default('keywatch'),
        /** One entry per topic: its format (`auto` detects per record) and optionally the tenant it belongs to. */
        topics: z.array(z.object({ topic: z.string().min(1), format: z.string().min(1).default('auto'), tenant: z.string().min(1).optional() }).strict()).default([]),
        /** Poison records are quarantined, and also copied here when set. */
        deadLetterTopic: z.string().min(1).optional(),
        sessionTimeoutMs: z.number().int().positive().default(30_000),
        heartbeatIntervalMs: z.number().int().positive().default(3_000),
        /** Most bytes fetched per partition at a time; each fetched batch is stored, then committed. */
        maxBatchBytes: z.number().int().min(1024).default(8 * 1024 * 1024),
        ssl: z.boolean().default(false),
        sasl: z
          .object({ mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']), username: z.string().min(1), password: z.string().min(1) })
          .strict()
          .optional(),
      })
      .strict()
      .default({ brokers: [], clientId: 'keywatch', groupId: 'keywatch', topics: [], sessionTimeoutMs: 30_000, heartbeatIntervalMs: 3_000, maxBatchBytes: 8 * 1024 * 1024, ssl: false }),
    /** Detectors: noise control and the first run of a new deployment. */
    detect: z
      .object({
        /** A detector's first run examines only this many hours of event time, so a new deployment does not page on its history. */
        initialLookbackHours: z.number().positive().default(24),
        /** Provider-internal callers (AWS Internal, AWS services, Azure's own rotation) are left out unless this is true. */
        includeInternalCallers: z.boolean().default(false),
        /**
         * What counts as inside the organization, for detectors of widened access and external use:
         * accounts (AWS accounts, GCP projects, Azure subscriptions) besides those in `tenants`, and
         * identity domains (`example.com` matches user@example.com and *.example.com service accounts).
         */
        organization: z
          .object({ accounts: z.array(z.string().min(1)).default([]), domains: z.array(z.string().min(1)).default([]) })
          .strict()
          .default({ accounts: [], domains: [] }),
        /** Office hours for "outside business hours" detectors: hours [start, end) on weekdays (1 = Monday .. 7 = Sunday) in a fixed UTC offset. */
        businessHours: z
          .object({
            start: z.number().int().min(0).max(23).default(8),
            end: z.number().int().min(1).max(24).default(18),
            days: z.array(z.number().int().min(1).max(7)).default([1, 2, 3, 4, 5]),
            utcOffsetMinutes: z.number().int().min(-720).max(840).default(0),
          })
          .strict()
          .default({ start: 8, end: 18, days: [1, 2, 3, 4, 5], utcOffsetMinutes: 0 }),
        /** Cryptoperiods for rotation drift, in days: the default, then per tenant, then per key (exact key_id). */
        cryptoperiodDays: z
          .object({
            default: z.number().int().positive().default(365),
            tenants: z.record(z.string(), z.number().int().positive()).default({}),
            keys: z.record(z.string(), z.number().int().positive()).default({}),
          })
          .strict()
          .default({ default: 365, tenants: {}, keys: {} }),
        /** Per-detector settings (thresholds, windows), keyed by detector id; each detector validates its own. */
        detectors: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
        /** Alerts that match are stored as suppressed, with the reason, and not sent. `*` matches any run of characters. */
        allow: z
          .array(
            z
              .object({
                detector: z.string().min(1).optional(),
                tenant: z.string().min(1).optional(),
                key_id: z.string().min(1).optional(),
                principal: z.string().min(1).optional(),
                reason: z.string().min(1),
                until: z.string().datetime({ offset: true }).optional(),
              })
              .strict(),
          )
          .default([]),
        /** Planned work (a rotation, a migration): alerts of these keys and detectors inside the window are suppressed. */
        maintenance: z
          .array(
            z
              .object({
                tenant: z.string().min(1).optional(),
                key_id: z.string().min(1).optional(),
                detectors: z.array(z.string().min(1)).optional(),
                from: z.string().datetime({ offset: true }),
                to: z.string().datetime({ offset: true }),
                reason: z.string().min(1),
              })
              .strict(),
          )
          .default([]),
      })
      .strict()
      .default({ initialLookbackHours: 24, includeInternalCallers: false, organization: { accounts: [], domains: [] }, businessHours: { start: 8, end: 18, days: [1, 2, 3, 4, 5], utcOffsetMinutes: 0 }, cryptoperiodDays: { default: 365, tenants: {}, keys: {} }, detectors: {}, allow: [], maintenance: [] }),
    /**
     * Where `keywatch detect` sends open alerts, through the outbox (detectors/outputs/): a JSONL
     * file, a signed webhook, a Kafka topic (on the `kafka` cluster). Each is retried with
     * exponential backoff until delivered or `maxAttempts` is used up; a restart loses nothing.
     */
    alerts: z
      .object({
        /** Open alerts detected this many hours back and missing from the outbox are enqueued on each run (a run that stopped after writing its alerts loses none). */
        enqueueLookbackHours: z.number().positive().default(168),
        /** Append each open alert as one JSON line to this file. */
        jsonlFile: z.string().min(1).optional(),
        /** POST each alert as JSON, signed: X-Keywatch-Signature: sha256=<hex HMAC-SHA256 of the body>. */
        webhook: Webhook.optional(),
        /**
         * More webhooks, each with a name, e.g. a pager for pages and a ticket system for tickets:
         * [{"name": "pager", "url": ..., "only": {"severities": ["critical"]}}]. The secret comes
         * from KEYWATCH_WEBHOOK_SECRET_<NAME> (upper case), else `secret`.
         */
        webhooks: z.array(Webhook.extend({ name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes') }).strict()).default([]),
        /** Produce each alert to this topic of the `kafka` cluster, keyed by alert id. */
        kafka: z
          .object({
            topic: z.string().min(1),
            format: z.enum(['json', 'ocsf']).default('json'),
            maxAttempts: z.number().int().min(1).default(8),
            baseDelayMs: z.number().int().positive().default(1_000),
            maxDelayMs: z.number().int().positive().default(300_000),
            only: AlertRoute.optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ enqueueLookbackHours: 168, webhooks: [] }),
    /**
     * SLOs over key operations (slo/): spec files or directories (YAML or JSON), relative to the
     * config file. None: the shipped examples in slo/examples/.
     */
    slo: z
      .object({ specs: z.array(z.string().min(1)).default([]) })
      .strict()
      .default({ specs: [] }),
    /** Coverage gaps: admin activity on a key but no data-plane events in the window. */
    coverage: z
      .object({ windowDays: z.number().int().positive().default(7) })
      .strict()
      .default({ windowDays: 7 }),
  })
  .strict();
export type Config = z.infer<typeof Config>;
export type DetectConfig = Config['detect'];

export interface ConfigFlags {
  dataDir?: string;
  clickhouseUrl?: string;
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

export function loadConfig(opts: { configPath?: string; env?: NodeJS.ProcessEnv; flags?: ConfigFlags }): Config {
  const env = opts.env ?? {};
  let fileValue: Record<string, unknown> = {};
  if (opts.configPath) {
    let text: string;
    try {
      text = readFileSync(opts.configPath, 'utf8');
    } catch (e) {
      throw new KeywatchError('CONFIG_INVALID', `cannot read config file ${opts.configPath}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
    }
    try {
      fileValue = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new KeywatchError('CONFIG_INVALID', `config file ${opts.configPath} is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
  }
  const merged = structuredClone(fileValue) as Record<string, any>;
  const ch = (merged.clickhouse ??= {}) as Record<string, unknown>;
  if (env.KEYWATCH_DATA_DIR) merged.dataDir = env.KEYWATCH_DATA_DIR;
  if (env.KEYWATCH_CLICKHOUSE_URL) ch.url = env.KEYWATCH_CLICKHOUSE_URL;
  if (env.KEYWATCH_CLICKHOUSE_USER) ch.username = env.KEYWATCH_CLICKHOUSE_USER;
  if (env.KEYWATCH_CLICKHOUSE_PASSWORD) ch.password = env.KEYWATCH_CLICKHOUSE_PASSWORD;
  if (env.KEYWATCH_CLICKHOUSE_DATABASE) ch.database = env.KEYWATCH_CLICKHOUSE_DATABASE;
  if (opts.flags?.dataDir) merged.dataDir = opts.flags.dataDir;
  if (opts.flags?.clickhouseUrl) ch.url = opts.flags.clickhouseUrl;
  // Credentials in the URL (http://user:pass@host:8123) move to their own fields, so the URL can be logged.
  if (typeof ch.url === 'string') {
    try {
      const u = new URL(ch.url);
      if (u.username) ch.username = decodeURIComponent(u.username);
      if (u.password) ch.password = decodeURIComponent(u.password);
      u.username = '';
      u.password = '';
      ch.url = u.toString().replace(/\/$/, '');
    } catch {
      // Left as is: the schema reports an invalid URL.
    }
  }
  const parsed = Config.safeParse(merged);
  if (!parsed.success) {
    throw new KeywatchError('CONFIG_INVALID', `invalid configuration${opts.configPath ? ` in ${opts.configPath}` : ''}: ${describeIssues(parsed.error)}`);
  }
  if (opts.configPath) {
    const base = dirname(resolve(opts.configPath));
    parsed.data.slo.specs = parsed.data.slo.specs.map((p) => resolve(base, p));
  }
  return parsed.data;
}
