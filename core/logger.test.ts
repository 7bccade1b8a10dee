import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';

function capture() {
  const lines: string[] = [];
  const log = createLogger('debug', { write: (s: string) => void lines.push(s) });
  return { log, text: () => lines.join('') };
}

describe('logger redaction', () => {
  it('replaces fields named like credentials or key material, at the top level and one object down', () => {
    const { log, text } = capture();
    log.warn(
      {
        password: 'pw-top-0123456789',
        token: 'tok-top-0123456789',
        pin: 'pin-top-0123456789',
        authorization: 'Bearer auth-top-0123456789',
        clickhouse: { url: 'http://ch:8123', password: 'pw-nested-0123456789' },
        kafka: { brokers: ['b:9092'], sasl: { mechanism: 'plain', username: 'u', password: 'sasl-nested-0123456789' } },
        webhook: { secret: 'hook-nested-0123456789' },
        headers: { authorization: 'Bearer hdr-0123456789', 'content-type': 'application/json' },
        quarantined: { record: '-----BEGIN PRIVATE KEY-----rec-0123456789' },
        privateKey: 'pk-top-0123456789',
      },
      'settings',
    );
    const out = text();
    for (const s of ['pw-top', 'tok-top', 'pin-top', 'auth-top', 'pw-nested', 'sasl-nested', 'hook-nested', 'hdr-0123', 'rec-0123', 'pk-top']) expect(out).not.toContain(s);
    const line = JSON.parse(out) as Record<string, any>;
    expect(line.clickhouse).toEqual({ url: 'http://ch:8123', password: '[redacted]' });
    expect(line.kafka).toEqual({ brokers: ['b:9092'], sasl: '[redacted]' });
    expect(line.headers['content-type']).toBe('application/json');
  });

  it('leaves ordinary fields alone', () => {
    const { log, text } = capture();
    log.info({ batch: 'b-1', inserted: 42, tenant: 'acme', status: 401 }, 'batch written');
    expect(JSON.parse(text())).toMatchObject({ batch: 'b-1', inserted: 42, tenant: 'acme', status: 401, msg: 'batch written' });
  });
});
