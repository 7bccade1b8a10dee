import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbeddedStore } from '../storage/chdb/embedded-store.ts';
import { migrate } from '../storage/migrate.ts';
import type { Store } from '../storage/store.ts';
import { event } from './cases.ts';
import { keyHistory } from './rotation-evidence.ts';

let store: Store;
let dir: string;
const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/1b2c3d4e-0000-4000-8000-000000000009';
const range = (from: string, to: string) => ({
  sql: 'event_time >= {scope_from:DateTime64(3)} AND event_time < {scope_to:DateTime64(3)}',
  params: { scope_from: from, scope_to: to },
  from: new Date(`${from.replace(' ', 'T')}Z`),
  to: new Date(`${to.replace(' ', 'T')}Z`),
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keywatch-rotation-evidence-'));
  store = await openEmbeddedStore({ dataDir: join(dir, 'store') });
  await migrate(store, { now: () => new Date('2026-01-01T00:00:00Z') });
  await store.insertRows('key_events', [
    // Two events at the key's first instant and two at its last: ties go to the smaller and the larger event id.
    event({ event_id: 'b-first', key_id: KEY, event_time: '2026-03-01 08:00:00.000', region: 'eu-west-1' }),
    event({ event_id: 'a-first', key_id: KEY, event_time: '2026-03-01 08:00:00.000', region: 'eu-west-1' }),
    event({ event_id: 'm-rotate', key_id: KEY, event_time: '2026-03-05 09:00:00.000', operation: 'rotate_key', vendor_operation: 'RotateKeyOnDemand' }),
    event({ event_id: 'y-last', key_id: KEY, event_time: '2026-03-10 10:00:00.000', region: 'eu-west-1' }),
    event({ event_id: 'z-last', key_id: KEY, event_time: '2026-03-10 10:00:00.000', region: 'eu-central-1', account: '444455556666' }),
    // After the evaluation time: not counted.
    event({ event_id: 'later', key_id: KEY, event_time: '2026-03-20 10:00:00.000', region: 'us-east-1' }),
    // A key with no event in scope is not examined.
    event({ event_id: 'other', key_id: `${KEY}-other`, event_time: '2026-02-01 10:00:00.000' }),
  ]);
});
afterAll(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('key history', () => {
  it("gives each examined key's first and last events up to the evaluation time, ties broken by event id, and its latest material", async () => {
    const rows = await keyHistory({ store, scope: range('2026-03-09 00:00:00.000', '2026-03-11 00:00:00.000') }, new Date('2026-03-11T00:00:00Z'));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      key_id: KEY,
      first_seen: '2026-03-01 08:00:00.000',
      first_event_id: 'a-first',
      last_seen: '2026-03-10 10:00:00.000',
      last_event_id: 'z-last',
      region: 'eu-central-1',
      account: '444455556666',
      scope_events: '2',
      materials: '1',
      material_event_id: 'm-rotate',
      material_vendor_operation: 'RotateKeyOnDemand',
      creates: '0',
      created: '1970-01-01 00:00:00.000',
      replications: [],
    });
    expect([...(rows[0]?.scope_event_ids ?? [])].sort()).toEqual(['y-last', 'z-last']);
  });

  it('is computed once per run when the detectors share it', async () => {
    let loads = 0;
    const cache = new Map<string, Promise<unknown>>();
    const shared = <T>(key: string, compute: () => Promise<T>): Promise<T> => {
      if (!cache.has(key)) {
        loads++;
        cache.set(key, compute());
      }
      return cache.get(key) as Promise<T>;
    };
    const scope = range('2026-03-09 00:00:00.000', '2026-03-11 00:00:00.000');
    const asOf = new Date('2026-03-11T00:00:00Z');
    const a = await keyHistory({ store, scope, shared }, asOf);
    const b = await keyHistory({ store, scope, shared }, asOf);
    await keyHistory({ store, scope, shared }, new Date('2026-03-10T12:00:00Z'));
    expect(b).toBe(a);
    expect(loads).toBe(2);
  });
});
