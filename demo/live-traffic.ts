import { randomUUID } from 'node:crypto';
import { generateCloudTrail, type CloudTrailRecord } from './cloudtrail-generator.ts';
import { demoKeys } from './estate.ts';

/**
 * Live demo traffic for `keywatch demo --serve`: the demo estate's CloudTrail KMS calls, re-timed to
 * now, pushed to a running HTTP collector every `intervalMs`, and after `incidentAfterMs` one
 * planted incident (a key scheduled for deletion) that the key-disabled-or-deleted detector alerts on.
 *
 * @example const t = startLiveTraffic({ url: 'http://127.0.0.1:8080', onIncident: (i) => console.log(i) }); ... await t.stop();
 */
export interface PlantedIncident {
  at: string;
  keyArn: string;
  principal: string;
  what: string;
}

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A CloudTrail ScheduleKeyDeletion record by `principalArn` on `keyArn`, happening at `now`. */
export function scheduleKeyDeletion(now: Date, keyArn: string, principalArn: string): CloudTrailRecord {
  const [, , , region, account, resource] = keyArn.split(':');
  const keyId = (resource ?? '').replace(/^key\//, '');
  return {
    eventVersion: '1.08',
    userIdentity: { type: 'IAMUser', principalId: 'AIDAZ4EXAMPLE1K3M5N7', arn: principalArn, accountId: account, userName: principalArn.split('/').pop() },
    eventTime: iso(now),
    eventSource: 'kms.amazonaws.com',
    eventName: 'ScheduleKeyDeletion',
    awsRegion: region,
    sourceIPAddress: '203.0.113.12',
    userAgent: 'aws-cli/2.15.0',
    requestParameters: { pendingWindowInDays: 7, keyId },
    responseElements: { keyId: keyArn, keyState: 'PendingDeletion', deletionDate: new Date(now.getTime() + 7 * 86_400_000).toISOString() },
    requestID: randomUUID(),
    eventID: randomUUID(),
    readOnly: false,
    resources: [{ accountId: account, type: 'AWS::KMS::Key', ARN: keyArn }],
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: account,
    eventCategory: 'Management',
  };
}

export function startLiveTraffic(o: {
  url: string;
  token?: string;
  intervalMs?: number;
  recordsPerPush?: number;
  incidentAfterMs?: number;
  seed?: number;
  onIncident?: (i: PlantedIncident) => void;
  onError?: (e: unknown) => void;
}): { stop(): Promise<void>; pushed(): number } {
  const intervalMs = o.intervalMs ?? 1_000;
  const perPush = o.recordsPerPush ?? 5;
  // A day of the estate's ordinary traffic, replayed as if it happened now.
  const pool = [...generateCloudTrail({ start: new Date(Date.now() - 86_400_000), days: 1, seed: o.seed ?? 7 })];
  let cursor = 0;
  let pushed = 0;
  let incidentDone = false;
  const started = Date.now();
  const key = demoKeys().find((k) => k.tenant === 'acme' && k.origin === 'EXTERNAL') ?? (demoKeys()[0] as NonNullable<ReturnType<typeof demoKeys>[number]>);
  const principal = `arn:aws:iam::${key.account}:user/departing-contractor`;

  const post = async (records: readonly CloudTrailRecord[]) => {
    const r = await fetch(`${o.url}/v1/ingest/aws-cloudtrail`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) },
      body: records.map((x) => JSON.stringify(x)).join('\n') + '\n',
    });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`the collector answered ${r.status}`);
    pushed += records.length;
  };

  let busy: Promise<void> = Promise.resolve();
  let inFlight = false;
  const tick = () => {
    inFlight = true;
    busy = (async () => {
      const now = new Date();
      const batch: CloudTrailRecord[] = [];
      for (let i = 0; i < perPush && pool.length > 0; i++) {
        const rec = pool[cursor++ % pool.length] as CloudTrailRecord;
        batch.push({ ...rec, eventTime: iso(new Date(now.getTime() - Math.floor(Math.random() * intervalMs))), eventID: randomUUID() });
      }
      if (!incidentDone && Date.now() - started >= (o.incidentAfterMs ?? 5_000)) {
        incidentDone = true;
        batch.push(scheduleKeyDeletion(now, key.arn, principal));
        o.onIncident?.({ at: now.toISOString(), keyArn: key.arn, principal, what: `ScheduleKeyDeletion of ${key.tenant}/${key.alias} by ${principal}` });
      }
      await post(batch);
    })()
      .catch((e: unknown) => o.onError?.(e))
      .finally(() => {
        inFlight = false;
      });
  };
  const timer = setInterval(() => {
    // A slow store would make pushes queue up in the collector; a tick is skipped instead.
    if (!inFlight) tick();
  }, intervalMs);
  tick();
  return {
    pushed: () => pushed,
    async stop() {
      clearInterval(timer);
      await busy;
    },
  };
}
