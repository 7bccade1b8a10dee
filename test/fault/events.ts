import { randomUUID } from 'node:crypto';
import { generateCloudTrail } from '../../demo/cloudtrail-generator.ts';
import type { Store } from '../../storage/store.ts';

/**
 * What every fault test checks at its end: each event sent is stored, exactly once. Counted over
 * the event ids the test sent, so the check cannot pass on rows from elsewhere.
 */
export interface EventCounts {
  sent: number;
  /** Distinct event_id of the sent ones found in key_events. */
  stored: number;
  /** key_events rows for them; more than `stored` means duplicates. */
  rows: number;
}

/** `n` CloudTrail KMS records, each with an event id of its own (the id is the key_events event_id). */
export function cloudTrailRecords(n: number, seed: number): { lines: string[]; ids: string[] } {
  const lines: string[] = [];
  const ids: string[] = [];
  while (lines.length < n) {
    for (const r of generateCloudTrail({ start: new Date('2026-05-04T00:00:00Z'), days: 2, seed: seed++, rateScale: 4 })) {
      const id = randomUUID();
      lines.push(JSON.stringify({ ...r, eventID: id }));
      ids.push(id);
      if (lines.length === n) break;
    }
  }
  return { lines, ids };
}

export async function countEvents(store: Store, ids: readonly string[]): Promise<EventCounts> {
  let stored = 0;
  let rows = 0;
  // In slices, so that the query text stays small.
  for (let i = 0; i < ids.length; i += 5000) {
    const slice = ids.slice(i, i + 5000);
    const [r] = await store.query<{ d: string; n: string }>('SELECT uniqExact(event_id) AS d, count() AS n FROM key_events WHERE event_id IN {ids:Array(String)}', { ids: slice });
    stored += Number(r?.d ?? 0);
    rows += Number(r?.n ?? 0);
  }
  return { sent: new Set(ids).size, stored, rows };
}
