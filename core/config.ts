import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { KeywatchError } from './errors.ts';
import { isCronExpression } from './schedule.ts';

/**
 * keywatch configuration. Sources, later ones winning: defaults in this schema, the JSON or YAML
 * file (`.yaml`/`.yml`) given with --config (or ./keywatch.config.json when present), environment variables
 * (KEYWATCH_*), then command-line flags.
 *
 * @example loadConfig({ configPath: 'keywatch.config.json', env: process.env, flags: { dataDir: '/var/lib/keywatch' } })
 */
const HTTP_HEADERS_TIMEOUT_MS = 10_000;
const HTTP_REQUEST_TIMEOUT_MS = 60_000;

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
    url: z
      .string()
      .url()
      .regex(/^https?:\/\//i, 'an http:// or https:// URL')
      // fetch refuses such a URL, and its error repeats the URL, password included.
      .refine((u) => !/^https?:\/\/[^/?#]*@/i.test(u), 'no user:password@ in the URL: the receiver authenticates keywatch by the HMAC signature (secret)'),
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

const HostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'HOST:PORT');
/** A cron expression in UTC (5 fields, or 6 with seconds first), or `false` for never. */
const Cron = z.string().refine(isCronExpression, 'a cron expression such as "*/5 * * * *" (UTC)');
const CronOrOff = z.union([Cron, z.literal(false)]);

/** Synthetic HSM probes (`keywatch probe` settings), run on their own schedule by the service. */
const ProbeSchedule = z
  .object({
    cron: Cron.default('*/5 * * * *'),
    module: z.string().min(1),
    /** Exactly one of slot (index among slots with a token), slotId, token (label). */
    slot: z.number().int().nonnegative().optional(),
    slotId: z.string().regex(/^\d+$/, 'a decimal slot id').optional(),
    token: z.string().min(1).optional(),
    /** Exactly one of pinEnv (an environment variable) and pinFile; never the PIN itself. */
    pinEnv: z.string().min(1).optional(),
    pinFile: z.string().min(1).optional(),
    wrapKey: z.string().min(1),
    cryptoKey: z.string().min(1),
    count: z.number().int().min(1).max(10_000).default(1),
  })
  .strict()
  .superRefine((p, ctx) => {
    if ([p.slot, p.slotId, p.token].filter((v) => v !== undefined).length !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of slot, slotId or token', path: ['token'] });
    if ((p.pinEnv === undefined) === (p.pinFile === undefined)) ctx.addIssue({ code: 'custom', message: 'give exactly one of pinEnv or pinFile', path: ['pinEnv'] });
  });

/** `keywatch serve`: the long-running service (README, "Operating keywatch serve"). */
const Service = z
  .object({
    /** /healthz, /readyz and /metrics, on their own listener. */
    ops: z.object({ listen: HostPort.default('127.0.0.1:9464') }).strict().default({ listen: '127.0.0.1:9464' }),
    /**
     * The HTTP collector on `http.listen`. `auto` starts it when tokens are configured (or
     * `insecureNoAuth` on a loopback address); `true` insists (no tokens is an error); `false` never.
     */
    collector: z
      .object({ enabled: z.union([z.boolean(), z.literal('auto')]).default('auto'), insecureNoAuth: z.boolean().default(false) })
      .strict()
      .default({ enabled: 'auto', insecureNoAuth: false }),
    /** Recurring work, cron in UTC; `false` turns a job off. */
    schedules: z
      .object({
        /** Detectors over the events ingested since their last run, then delivery of new alerts. */
        detect: CronOrOff.default('* * * * *'),
        /** Retries of the alert outbox (sends whose backoff has passed). */
        deliver: CronOrOff.default('* * * * *'),
        /** SLO evaluation (`slo.specs`, else the shipped examples). */
        slo: CronOrOff.default('*/5 * * * *'),
        probe: ProbeSchedule.optional(),
        /** The compliance report of the quarter that just ended, written to `<outDir>/<quarter>/`. */
        report: z
          .object({ cron: Cron.default('0 6 1 1,4,7,10 *'), outDir: z.string().min(1), pdf: z.boolean().default(false), tenant: z.string().min(1).optional() })
          .strict()
          .optional(),
      })
      .strict()
      .default({ detect: '* * * * *', deliver: '* * * * *', slo: '*/5 * * * *' }),
    /** A detector run (and delivery) shortly after new events land, besides the schedule. */
    detectOnIngest: z
      .object({
        enabled: z.boolean().default(true),
        /** Quiet time after the last new events before the run starts; a busy stream still runs at least this often. */
        debounceMs: z.number().int().min(0).default(1_000),
        /** How often the intake counters are looked at (cheap, in memory). */
        pollMs: z.number().int().min(10).default(250),
        /**
         * Which detectors these runs use: `signatures` (the eight that judge single events: deletion,
         * policy, grants, cross-account use, imports, HSM admin, audit integrity — fast, so an
         * incident reaches the feed in seconds) or `all`. The schedule runs all of them either way.
         */
        detectors: z.enum(['signatures', 'all']).default('signatures'),
      })
      .strict()
      .default({ enabled: true, debounceMs: 1_000, pollMs: 250, detectors: 'signatures' }),
    /** SIGTERM/SIGINT: stop intake, flush, commit offsets and exit within this time, else exit forcibly. */
    shutdownTimeoutMs: z.number().int().min(1_000).default(10_000),
    /**
     * Read commands from other terminals while the service holds the embedded store: a Unix socket
     * `<dataDir>/serve.sock` (0600) and a bearer token in `<dataDir>/serve.token` (0600).
     */
    localApi: z.object({ enabled: z.boolean().default(true) }).strict().default({ enabled: true }),
  })
  .strict();
export type ServiceConfig = z.infer<typeof Service>;

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
        cluster: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'letters, digits, _, - and . (it is written into DDL)').optional(),
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
        /**
         * Requests per window, counted per tenant (by token) or per client address when no valid
         * token is presented; beyond it 429 with Retry-After. 600 a minute is ten batches a second
         * from one tenant: far above what a log shipper sends, low enough to stop a runaway loop.
         */
        rateLimit: z
          .object({ max: z.number().int().positive().default(600), windowMs: z.number().int().min(1000).default(60_000) })
          .strict()
          .default({ max: 600, windowMs: 60_000 }),
        /** A client must finish sending its headers within this time (408 and close); headers are a few hundred bytes, so 10 s is plenty on any link. */
        headersTimeoutMs: z.number().int().min(100).default(HTTP_HEADERS_TIMEOUT_MS),
        /**
         * A client must finish sending the whole request (headers and body) within this time (408
         * and close). A request holds a queue slot while its body arrives; 60 s carries a 16 MiB
         * body at 2.3 Mbit/s, and bodies are usually gzip, a tenth of that.
         */
        requestTimeoutMs: z.number().int().min(100).default(HTTP_REQUEST_TIMEOUT_MS),
        /** An idle keep-alive connection is closed after this; longer than the 60 s idle timeout of common load balancers (AWS ALB), so they never reuse a socket the collector just closed. */
        keepAliveTimeoutMs: z.number().int().min(100).default(72_000),
        /** Open connections beyond this are closed at once. */
        maxConnections: z.number().int().positive().default(1024),
        /** Largest request head (request line and headers); beyond it 431. Node's own default. */
        maxHeaderBytes: z.number().int().min(1024).default(16 * 1024),
        /**
         * When a request is answered, with a spool (`serve`): `stored` — 200 once its records are in
         * the store, with their counts; `spooled` — 202 once the body is fsync'd in the spool, and
         * the store is written behind, many requests per write (for many small requests: the
         * counts show in /metrics). Without a spool (`collect`) always `stored`.
         */
        acknowledge: z.enum(['stored', 'spooled']).default('stored'),
      })
      .strict()
      .refine((h) => h.headersTimeoutMs <= h.requestTimeoutMs, { message: 'headersTimeoutMs must not exceed requestTimeoutMs', path: ['headersTimeoutMs'] })
      .default({
        listen: '127.0.0.1:8080',
        tokens: [],
        maxBodyBytes: 16 * 1024 * 1024,
        maxQueuedRequests: 16,
        rateLimit: { max: 600, windowMs: 60_000 },
        headersTimeoutMs: HTTP_HEADERS_TIMEOUT_MS,
        requestTimeoutMs: HTTP_REQUEST_TIMEOUT_MS,
        keepAliveTimeoutMs: 72_000,
        maxConnections: 1024,
        maxHeaderBytes: 16 * 1024,
        acknowledge: 'stored',
      }),
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
    service: Service.default({
      ops: { listen: '127.0.0.1:9464' },
      collector: { enabled: 'auto', insecureNoAuth: false },
      schedules: { detect: '* * * * *', deliver: '* * * * *', slo: '*/5 * * * *' },
      detectOnIngest: { enabled: true, debounceMs: 1_000, pollMs: 250, detectors: 'signatures' },
      shutdownTimeoutMs: 10_000,
      localApi: { enabled: true },
    }),
  })
  .strict();
export type Config = z.infer<typeof Config>;
export type DetectConfig = Config['detect'];

export interface ConfigFlags {
  dataDir?: string;
  clickhouseUrl?: string;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .flatMap((i) => {
      const at = i.path.map(String);
      // zod reports unknown keys at their parent; each is named at its own path instead.
      if (i.code === 'unrecognized_keys') return i.keys.map((k) => `${[...at, k].join('.')}: unknown key`);
      return [`${at.join('.') || '(root)'}: ${i.message}`];
    })
    .join('; ');
}

const isYamlPath = (p: string) => /\.ya?ml$/i.test(p);

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
    const yaml = isYamlPath(opts.configPath);
    let value: unknown;
    try {
      value = yaml ? parseYaml(text, { prettyErrors: true }) : JSON.parse(text);
    } catch (e) {
      throw new KeywatchError('CONFIG_INVALID', `config file ${opts.configPath} is not valid ${yaml ? 'YAML' : 'JSON'}: ${String((e as Error).message).split('\n')[0]}`, { cause: e });
    }
    // An empty YAML file is null: all defaults.
    if (value === null || value === undefined) value = {};
    if (typeof value !== 'object' || Array.isArray(value)) throw new KeywatchError('CONFIG_INVALID', `config file ${opts.configPath} must hold an object of settings at its top level`);
    fileValue = value as Record<string, unknown>;
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
    const sched = parsed.data.service.schedules;
    if (sched.report) sched.report.outDir = resolve(base, sched.report.outDir);
    if (sched.probe?.pinFile) sched.probe.pinFile = resolve(base, sched.probe.pinFile);
  }
  return parsed.data;
}
