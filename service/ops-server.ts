import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import type { ServiceMetrics } from './metrics.ts';

/**
 * The operational endpoints of `keywatch serve`, on their own listener (`service.ops.listen`):
 * `GET /healthz` (the process answers), `GET /readyz` (200 when every component is ready, else 503
 * naming those that are not), `GET /metrics` (Prometheus text format).
 *
 * @example const ops = await startOpsServer({ host: '127.0.0.1', port: 9464, metrics, readiness: () => service.readiness() });
 */
export interface Readiness {
  ready: boolean;
  /** Component name -> ready, with a reason when not. */
  checks: Record<string, { ready: boolean; reason?: string }>;
}

export interface OpsServer {
  /** `http://host:port`, with the port actually bound. */
  address: string;
  close(): Promise<void>;
}

export async function startOpsServer(o: {
  host: string;
  port: number;
  metrics: ServiceMetrics;
  readiness: () => Promise<Readiness>;
  /** Called before each scrape, to pull totals from the collectors. */
  beforeScrape?: () => Promise<void>;
}): Promise<OpsServer> {
  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.get('/healthz', async (_req, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok', pid: process.pid }));
  app.get('/readyz', async (_req, reply) => {
    const r = await o.readiness();
    const notReady = Object.entries(r.checks).filter(([, c]) => !c.ready).map(([name, c]) => ({ component: name, reason: c.reason ?? 'not ready' }));
    return reply
      .code(r.ready ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: r.ready ? 'ready' : 'not_ready', checks: r.checks, ...(notReady.length ? { notReady } : {}) });
  });
  app.get('/metrics', async (_req, reply) => {
    await o.beforeScrape?.();
    return reply.header('content-type', o.metrics.contentType).send(await o.metrics.render());
  });
  await app.listen({ host: o.host, port: o.port });
  const addr = app.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    address: `http://${host}:${addr.port}`,
    close: () => app.close(),
  };
}
