import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Clock } from '../../core/clock.ts';
import type { Config } from '../../core/config.ts';
import { KeywatchError, isKeywatchError } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/logger.ts';
import type { Store } from '../../storage/store.ts';
import { COLLECTORS, collectorForFormat, sniffCollector } from '../collectors.ts';
import type { IngestSummary } from '../pipeline.ts';
import type { RetryPolicy } from '../sink.ts';
import type { AppendResult, Spool } from '../spool.ts';
import { ingestHttpBody, storeUnavailable } from './http-ingest.ts';
import { httpTokens, tokenTable, type TokenTable } from './http-auth.ts';
import { ACCEPTED_MEDIA_TYPES, contentCoding, decodeBody, mediaKind, readBody, tooLarge } from './http-body.ts';

/**
 * The HTTP push transport: `POST /v1/ingest/{format}` stores the records of the body and answers
 * with their counts once they are durable (batch and ledger row written). Routes, status codes
 * and bodies are documented in the README ("HTTP push").
 *
 * @example
 *   const c = await startHttpCollector({ store, config, clock: systemClock, host: '127.0.0.1', port: 8080 });
 *   // curl -H 'Authorization: Bearer …' -H 'Content-Type: application/x-ndjson' --data-binary @trail.ndjson http://127.0.0.1:8080/v1/ingest/aws-cloudtrail
 *   await c.close();
 */
export interface HttpCollectorOptions {
  store: Store;
  config: Config;
  clock: Clock;
  /** Request logs (no tokens, no bodies); default: the keywatch logger (KEYWATCH_LOG_LEVEL). */
  logger?: Logger;
  host: string;
  /** 0 picks a free port; `address` tells which. */
  port: number;
  /**
   * Serve without tokens when none are configured. Only on a loopback address; events then take
   * their tenant from the account mapping (`tenants`, `defaultTenant`), as with `keywatch ingest`.
   */
  insecureNoAuth?: boolean;
  /** Where KEYWATCH_HTTP_TOKEN_<TENANT> variables are read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** How a lost store connection is retried within a request before answering 503 (or spooling). */
  retry?: RetryPolicy;
  /**
   * Where bodies go, fsync'd, when the store stays unreachable after the in-request retry: the
   * answer is then 202 (`SpooledResponse`), and 503 `spool_full` only when the spool cannot take
   * the body. A replayer (ingest/spool-replayer.ts) stores them later, in order. Without a spool
   * an unreachable store is answered 503 `store_unavailable`.
   */
  spool?: Spool;
}

/** Totals since start, over acknowledged (2xx) requests for the record counts. */
export interface HttpCollectorStats {
  requests: number;
  byStatus: Record<string, number>;
  /** Decompressed body bytes of acknowledged requests. */
  bytes: number;
  read: number;
  normalized: number;
  inserted: number;
  duplicates: number;
  quarantined: Record<string, number>;
  dropped: Record<string, number>;
  batches: number;
  chainHead: string;
  /** Requests admitted and waiting for the store right now. */
  waiting: number;
  /** True while a request's records are being written. */
  writing: boolean;
  /** Requests acknowledged 202 with their body in the spool. */
  spooled: number;
}

export interface HttpCollector {
  /** `http://host:port`, with the port actually bound. */
  address: string;
  stats(): HttpCollectorStats;
  /** Stops accepting requests, waits for those in flight to be answered, and returns the totals. */
  close(): Promise<HttpCollectorStats>;
}

/** Retries within a request are short: the client holds the connection, and can retry a 503 itself. */
export const HTTP_RETRY: RetryPolicy = { attempts: 2, baseDelayMs: 500 };
const STORE_RETRY_AFTER_S = 5;
const SPOOL_RETRY_AFTER_S = 30;

/** Parses `HOST:PORT` (`[::1]:8080` for IPv6). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new KeywatchError('USAGE', `--listen ${listen}: expected HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080`);
  return { host: (m[1] ?? m[2]) as string, port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The formats a client may name in the path. */
export function httpFormats(): string[] {
  return ['auto', ...COLLECTORS.flatMap((c) => c.formats)];
}

function knownFormat(format: string): boolean {
  if (format === 'auto') return true;
  try {
    collectorForFormat(format);
    return true;
  } catch {
    return false;
  }
}

const sumOf = (o: Record<string, number>) => Object.values(o).reduce((a, n) => a + n, 0);
const addInto = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};

/** What the request log line says about a request beyond method, path and status. */
interface RequestNote {
  tenant?: string;
  format?: string;
  bytes?: number;
  read?: number;
  inserted?: number;
  duplicates?: number;
  quarantined?: number;
  dropped?: number;
  error?: string;
  spooled?: boolean;
}

/** The body of a 200 answer. */
export interface IngestResponse {
  requestId: string;
  /** The tenant the token fixed, or null without authentication. */
  tenant: string | null;
  format: string;
  read: number;
  normalized: number;
  inserted: number;
  duplicates: number;
  quarantined: Record<string, number>;
  dropped: Record<string, number>;
  bySource: IngestSummary['bySource'];
  findings: number;
  batchIds: string[];
  chainHead: string;
}

/**
 * The body of a 202 answer: the store was unreachable, so the records were written to the spool
 * (fsync'd) and will be stored, in order, when it answers again. Record counts are not known yet.
 */
export interface SpooledResponse {
  requestId: string;
  tenant: string | null;
  format: string;
  spooled: true;
  /** Decoded body bytes spooled. */
  bytes: number;
  /** The spool after this body: entries and bytes waiting. */
  spool: { entries: number; bytes: number };
}

type Outcome = { spooled: false; summary: IngestSummary } | { spooled: true; append: AppendResult };

/**
 * Starts the HTTP collector. Refuses to start without tokens unless `insecureNoAuth` is set and
 * the address is loopback.
 */
export async function startHttpCollector(opts: HttpCollectorOptions): Promise<HttpCollector> {
  const { store, config, clock, spool } = opts;
  const log = opts.logger ?? createLogger();
  const limits = config.http;
  const tokens = tokenTable(httpTokens(config, opts.env ?? process.env));
  let auth: TokenTable | undefined = tokens;
  if (tokens.size === 0) {
    if (!opts.insecureNoAuth) {
      throw new KeywatchError(
        'CONFIG_INVALID',
        'no HTTP tokens are configured: add http.tokens ([{ "tenant": ..., "token": ... }]) to the config or set KEYWATCH_HTTP_TOKEN_<TENANT>; for a loopback-only collector without authentication pass --insecure-no-auth',
      );
    }
    if (!isLoopback(opts.host)) {
      throw new KeywatchError('USAGE', `--insecure-no-auth only listens on a loopback address (127.0.0.1, ::1, localhost), not ${opts.host}; configure tokens to listen there`);
    }
    auth = undefined;
    log.warn({ host: opts.host }, 'HTTP collector without authentication (--insecure-no-auth): anyone who can reach the port can write events');
  } else if (opts.insecureNoAuth) {
    log.warn({ tokens: tokens.size }, '--insecure-no-auth ignored: tokens are configured, so every request needs one');
  }

  const totals: HttpCollectorStats = { requests: 0, byStatus: {}, bytes: 0, read: 0, normalized: 0, inserted: 0, duplicates: 0, quarantined: {}, dropped: {}, batches: 0, chainHead: '', waiting: 0, writing: false, spooled: 0 };
  const notes = new WeakMap<FastifyRequest, RequestNote>();
  const inflight = new Set<Promise<void>>();
  let closing = false;
  // One write at a time: ingest() serializes runs on a store anyway; holding the queue here tells
  // requests waiting for the store (counted for 429) from the one being written.
  let tail: Promise<unknown> = Promise.resolve();
  let meanWriteSeconds = 1;

  // Slow clients: node's HTTP server answers 408 and closes a connection whose headers, or whole
  // request, take longer than the limits; it checks open connections every connectionsCheckingInterval.
  const app = Fastify({
    logger: false,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    return503OnClosing: false,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      maxHeaderSize: limits.maxHeaderBytes,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    forceCloseConnections: 'idle',
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const p =
        err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? { status: 408, code: 'request_timeout', message: `the request was not received within http.headersTimeoutMs (${limits.headersTimeoutMs} ms) for its headers or http.requestTimeoutMs (${limits.requestTimeoutMs} ms) in all` }
          : err.code === 'HPE_HEADER_OVERFLOW'
            ? { status: 431, code: 'headers_too_large', message: `the request line and headers exceed http.maxHeaderBytes (${limits.maxHeaderBytes} bytes)` }
            : { status: 400, code: 'bad_request', message: 'malformed HTTP request' };
      log.warn({ status: p.status, code: err.code, remote: socket.remoteAddress }, 'http connection refused');
      if (socket.writable) {
        const body = JSON.stringify({ error: { code: p.code, message: p.message } });
        socket.write(`HTTP/1.1 ${p.status} ${http.STATUS_CODES[p.status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      }
      socket.destroy();
    },
  });
  app.server.maxConnections = limits.maxConnections;

  const fail = (reply: FastifyReply, p: { status: number; code: string; message: string }, extra: Record<string, unknown> = {}) => {
    const note = notes.get(reply.request);
    if (note) note.error = p.code;
    else notes.set(reply.request, { error: p.code });
    return reply.code(p.status).header('content-type', 'application/json; charset=utf-8').send({ error: { code: p.code, message: p.message, ...extra } });
  };

  // Bodies are read by the ingest handler itself, after authentication, with its own limits.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    if (closing) {
      reply.header('connection', 'close').header('retry-after', String(STORE_RETRY_AFTER_S));
      return fail(reply, { status: 503, code: 'shutting_down', message: 'the collector is shutting down; retry against another instance or later' });
    }
  });

  // A response sent while closing ends its connection, so that close() need not wait for keep-alive to expire.
  app.addHook('onSend', async (_req, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  app.addHook('onResponse', async (req, reply) => {
    totals.requests++;
    const status = reply.statusCode;
    totals.byStatus[status] = (totals.byStatus[status] ?? 0) + 1;
    // The path pattern, not the URL: a query string could carry anything, a token included.
    const path = req.routeOptions.url ?? (req.url.split('?')[0] ?? '').slice(0, 200);
    const line = { req: req.id, method: req.method, path, status, ms: Math.round(reply.elapsedTime), remote: req.ip, ...notes.get(req) };
    if (status >= 500) log.error(line, 'http request failed');
    else if (status === 401 || status === 408 || status === 413 || status === 429 || status === 431) log.warn(line, 'http request refused');
    else log.info(line, 'http request');
  });

  app.setNotFoundHandler((req, reply) =>
    fail(reply, { status: 404, code: 'not_found', message: `no route ${req.method} ${(req.url.split('?')[0] ?? '').slice(0, 200)}; records go to POST /v1/ingest/{format}` }),
  );

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    // Fastify's own errors (an unparseable Content-Type header, a request timeout) keep their status.
    if (err.statusCode === 429 && (err as { rateLimited?: boolean }).rateLimited) return fail(reply, { status: 429, code: 'rate_limited', message: err.message });
    if (err.statusCode === 415) return fail(reply, { status: 415, code: 'unsupported_media_type', message: `Content-Type must be one of ${ACCEPTED_MEDIA_TYPES.join(', ')}` });
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return fail(reply, { status: err.statusCode, code: 'bad_request', message: err.message });
    log.error({ req: reply.request.id, code: err.code, err: err.message }, 'http handler failed');
    return fail(reply, { status: 500, code: 'internal', message: 'internal error; the records were not acknowledged' });
  });

  // Per tenant when the token is valid, else per client address (which also slows token guessing).
  // The token is checked again by the handler; a SHA-256 per request is cheap next to a batch.
  await app.register(rateLimit, {
    max: limits.rateLimit.max,
    timeWindow: limits.rateLimit.windowMs,
    allowList: (req) => req.routeOptions.url === '/healthz',
    keyGenerator: (req) => {
      const c = auth?.check(req.headers.authorization);
      return c?.ok ? `tenant:${c.tenant}` : `ip:${req.ip}`;
    },
    errorResponseBuilder: (_req, ctx) => Object.assign(new Error(`more than ${ctx.max} requests in ${limits.rateLimit.windowMs / 1000} s (http.rateLimit); retry in ${ctx.after}`), { statusCode: 429, rateLimited: true }),
  });

  const methodNotAllowed = (allow: string) => (_req: FastifyRequest, reply: FastifyReply) => {
    reply.header('allow', allow);
    return fail(reply, { status: 405, code: 'method_not_allowed', message: `use ${allow}` });
  };

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.route({ method: ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'], url: '/healthz', handler: methodNotAllowed('GET, HEAD') });
  app.route({ method: ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'], url: '/v1/ingest/:format', handler: methodNotAllowed('POST') });

  app.post<{ Params: { format: string } }>('/v1/ingest/:format', async (req, reply) => {
    const { format } = req.params;
    const note: RequestNote = { format: format.slice(0, 100) };
    notes.set(req, note);

    let tenant: string | undefined;
    if (auth) {
      const c = auth.check(req.headers.authorization);
      if (!c.ok) {
        // RFC 6750 section 3: a challenge on every 401, with error="invalid_token" when one was presented.
        reply.header('www-authenticate', c.reason === 'missing' ? 'Bearer realm="keywatch"' : 'Bearer realm="keywatch", error="invalid_token"');
        const message = c.reason === 'missing' ? 'an Authorization: Bearer <token> header is required' : 'the bearer token is not valid';
        return fail(reply, { status: 401, code: 'unauthorized', message });
      }
      tenant = c.tenant;
      note.tenant = tenant;
    }

    if (!knownFormat(format)) {
      const formats = httpFormats();
      return fail(reply, { status: 400, code: 'unknown_format', message: `unknown format "${format.slice(0, 100)}"; known formats: ${formats.join(', ')}` }, { formats });
    }
    const kind = mediaKind(req.headers['content-type']);
    if (kind === undefined) {
      return fail(reply, { status: 415, code: 'unsupported_media_type', message: `Content-Type must be one of ${ACCEPTED_MEDIA_TYPES.join(', ')}` });
    }
    const coding = contentCoding(req.headers['content-encoding']);
    if (coding === undefined) {
      return fail(reply, { status: 415, code: 'unsupported_media_type', message: 'Content-Encoding must be gzip or identity' });
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limits.maxBodyBytes) {
      reply.header('connection', 'close');
      return fail(reply, tooLarge(limits.maxBodyBytes, 'request body'));
    }
    if (totals.waiting >= limits.maxQueuedRequests) {
      const seconds = Math.min(60, Math.max(1, Math.ceil(meanWriteSeconds * (totals.waiting + 1))));
      reply.header('retry-after', String(seconds));
      return fail(reply, { status: 429, code: 'too_many_requests', message: `${totals.waiting} requests are already waiting for the store (http.maxQueuedRequests); retry after ${seconds} s` });
    }

    totals.waiting++;
    let waiting = true;
    const leaveQueue = () => {
      if (waiting) totals.waiting--;
      waiting = false;
    };
    let done!: () => void;
    const tracked = new Promise<void>((r) => (done = r));
    inflight.add(tracked);
    try {
      const raw = await readBody(req.raw, limits.maxBodyBytes);
      if (!raw.ok) {
        if (raw.error.status === 413) reply.header('connection', 'close');
        return fail(reply, raw.error);
      }
      const body = await decodeBody(raw.value, { coding, kind, maxBytes: limits.maxBodyBytes });
      if (!body.ok) return fail(reply, body.error);
      note.bytes = body.value.length;

      const batchIds: string[] = [];
      const origin = `http:${req.ip}#${req.id}`;
      const receivedAt = clock.now();
      const toSpool = async (s: Spool): Promise<Outcome> => ({ spooled: true, append: await s.append({ format, tenant: tenant ?? null, origin, requestId: req.id, receivedAt: receivedAt.toISOString() }, body.value) });
      // acknowledge: spooled — the body is acknowledged once it is fsync'd in the spool, and the
      // replayer stores it behind the others, many requests per run. It skips the write queue.
      const direct = spool !== undefined && limits.acknowledge === 'spooled';
      if (direct && format === 'auto' && body.value.length > 0 && !sniffCollector(body.value.subarray(0, 64 * 1024).toString('utf8'))) {
        const message = 'cannot tell what produced this body: no known log format in its first 64 KiB; name the format in the path, POST /v1/ingest/{format}';
        return fail(reply, { status: 400, code: 'format_not_detected', message }, { formats: httpFormats() });
      }
      const run = direct ? (leaveQueue(), toSpool(spool)) : tail.then(async (): Promise<Outcome> => {
        leaveQueue();
        // While spooled bodies wait, new ones join the spool behind them: nothing overtakes them.
        if (spool && spool.size() > 0) return toSpool(spool);
        totals.writing = true;
        const t0 = performance.now();
        try {
          const summary = await ingestHttpBody({
            store,
            config,
            clock,
            format,
            tenant,
            origin,
            body: body.value,
            onBatch: (r) => batchIds.push(r.batchId),
            retry: {
              ...(opts.retry ?? HTTP_RETRY),
              onRetry: ({ attempt, delayMs, error }) => log.warn({ req: req.id, attempt, delayMs, code: (error as { code?: string }).code, err: error.message }, 'store unavailable; retrying the batch'),
            },
          });
          return { spooled: false, summary };
        } catch (e) {
          if (spool && storeUnavailable(e)) {
            log.warn({ req: req.id, code: (e as KeywatchError).code, err: (e as Error).message }, 'store unavailable; request spooled');
            return toSpool(spool);
          }
          throw e;
        } finally {
          totals.writing = false;
          meanWriteSeconds = 0.8 * meanWriteSeconds + 0.2 * ((performance.now() - t0) / 1000);
        }
      });
      if (!direct) tail = run.catch(() => undefined);

      let outcome: Outcome;
      try {
        outcome = await run;
      } catch (e) {
        if (storeUnavailable(e)) {
          reply.header('retry-after', String(STORE_RETRY_AFTER_S));
          log.warn({ req: req.id, code: (e as KeywatchError).code, err: (e as Error).message }, 'store unavailable; request not acknowledged');
          return fail(reply, { status: 503, code: 'store_unavailable', message: 'the store is unavailable; the records were not acknowledged, send them again later' });
        }
        if (isKeywatchError(e) && e.code === 'FORMAT_UNKNOWN') {
          const message = 'cannot tell what produced this body: no known log format in its first 64 KiB; name the format in the path, POST /v1/ingest/{format}';
          return fail(reply, { status: 400, code: 'format_not_detected', message }, { formats: httpFormats() });
        }
        throw e;
      }
      if (outcome.spooled) {
        const a = outcome.append;
        if (!a.ok) {
          reply.header('retry-after', String(SPOOL_RETRY_AFTER_S));
          const message = `the store is unavailable and the spool is full (${a.stats.entries} entries, ${a.stats.bytes} of ${a.stats.maxBytes} bytes; spool.maxBytes); the records were not acknowledged, send them again later`;
          return fail(reply, { status: 503, code: 'spool_full', message });
        }
        totals.bytes += body.value.length;
        totals.spooled++;
        note.spooled = true;
        const st = (spool as Spool).stats();
        const spooled: SpooledResponse = { requestId: req.id, tenant: tenant ?? null, format, spooled: true, bytes: body.value.length, spool: { entries: st.entries, bytes: st.bytes } };
        return reply.code(202).send(spooled);
      }
      const summary = outcome.summary;

      totals.bytes += body.value.length;
      totals.read += summary.read;
      totals.normalized += summary.normalized;
      totals.inserted += summary.inserted;
      totals.duplicates += summary.duplicates;
      addInto(totals.quarantined, summary.quarantined);
      addInto(totals.dropped, summary.dropped);
      totals.batches += summary.batches;
      if (summary.batches > 0) totals.chainHead = summary.chainHead;
      Object.assign(note, { read: summary.read, inserted: summary.inserted, duplicates: summary.duplicates, quarantined: sumOf(summary.quarantined), dropped: sumOf(summary.dropped) });

      const response: IngestResponse = {
        requestId: req.id,
        tenant: tenant ?? null,
        format,
        read: summary.read,
        normalized: summary.normalized,
        inserted: summary.inserted,
        duplicates: summary.duplicates,
        quarantined: summary.quarantined,
        dropped: summary.dropped,
        bySource: summary.bySource,
        findings: summary.findings,
        batchIds,
        chainHead: summary.chainHead,
      };
      return reply.code(200).send(response);
    } finally {
      leaveQueue();
      inflight.delete(tracked);
      done();
    }
  });

  await app.listen({ host: opts.host, port: opts.port });
  const a = app.server.address() as AddressInfo;
  const address = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  const stats = (): HttpCollectorStats => structuredClone(totals);

  let closed: Promise<HttpCollectorStats> | undefined;
  return {
    address,
    stats,
    close: () =>
      (closed ??= (async () => {
        closing = true;
        await app.close();
        // A client that hung up leaves its request's write running; the store must outlive it.
        await Promise.allSettled([...inflight]);
        return stats();
      })()),
  };
}
