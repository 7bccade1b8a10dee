import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A webhook receiver for tests, and the reference for verifying keywatch's signature: a real
 * node:http server on 127.0.0.1 that records each request, checks `X-Keywatch-Signature` against
 * the secret, and dedupes on the idempotency key as a receiver should (delivery is at least once).
 *
 * @example
 *   const r = await startReceiver({ secret });
 *   // alerts.webhook.url = r.url
 *   await r.close();
 */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The signature header matched the HMAC-SHA256 of the raw body under the secret. */
  verified: boolean;
}

export type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Bodies kept once per idempotency key, as a deduping receiver would. */
  unique: Map<string, ReceivedRequest>;
  close(): Promise<void>;
}

/** Constant-time check of `sha256=<hex>` against the body, as a receiver should do it. */
export function verifySignature(secret: string, body: string, header: string | undefined): boolean {
  if (!header?.startsWith('sha256=')) return false;
  const given = Buffer.from(header.slice('sha256='.length), 'hex');
  const want = createHmac('sha256', secret).update(body).digest();
  return given.length === want.length && timingSafeEqual(given, want);
}

/** A port nothing listens on (yet): taken from the OS, then released. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function startReceiver(o: { secret: string; port?: number; reply?: (req: ReceivedRequest, n: number) => Reply }): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const unique = new Map<string, ReceivedRequest>();
  const hanging = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const sig = req.headers['x-keywatch-signature'];
      const r: ReceivedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, verified: verifySignature(o.secret, body, typeof sig === 'string' ? sig : undefined) };
      requests.push(r);
      const reply = o.reply?.(r, requests.length) ?? { status: 204 };
      if (reply === 'hang') {
        hanging.add(() => res.destroy());
        return;
      }
      if (reply.status >= 200 && reply.status < 300 && r.verified) {
        const key = req.headers['idempotency-key'];
        if (typeof key === 'string' && !unique.has(key)) unique.set(key, r);
      }
      res.writeHead(reply.status, reply.headers ?? {});
      res.end(reply.body ?? '');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/keywatch`,
    port,
    requests,
    unique,
    close: async () => {
      for (const end of hanging) end();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
