import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';

/**
 * The planted incident of bench:serve and how to see it arrive. The record is an AWS CloudTrail
 * `ScheduleKeyDeletion` by an IAM user, shaped like ingest/aws-kms/fixtures/schedule-key-deletion.json,
 * which `key-disabled-or-deleted` reports (severity high). Each plant names a key of its own, so
 * the detector's 60-minute dedupe (per tenant, key, principal) never folds two plants into one alert.
 */

export const PLANT_ACCOUNT = '111122223333';
export const PLANT_DETECTOR = 'key-disabled-or-deleted';

export interface Plant {
  record: Record<string, unknown>;
  keyArn: string;
  eventId: string;
}

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export function plantedDeletion(now: Date): Plant {
  const keyId = randomUUID();
  const keyArn = `arn:aws:kms:us-east-1:${PLANT_ACCOUNT}:key/${keyId}`;
  const eventId = randomUUID();
  const record = {
    eventVersion: '1.08',
    userIdentity: {
      type: 'IAMUser',
      principalId: 'AIDAZ4EXAMPLE1K3M5N7',
      arn: `arn:aws:iam::${PLANT_ACCOUNT}:user/bench-secops`,
      accountId: PLANT_ACCOUNT,
      accessKeyId: 'AKIAZ4EXAMPLE7P9Q1R3',
      userName: 'bench-secops',
      sessionContext: { attributes: { creationDate: iso(new Date(now.getTime() - 600_000)), mfaAuthenticated: 'true' } },
    },
    eventTime: iso(now),
    eventSource: 'kms.amazonaws.com',
    eventName: 'ScheduleKeyDeletion',
    awsRegion: 'us-east-1',
    sourceIPAddress: '203.0.113.12',
    userAgent: 'aws-cli/2.15.0 Python/3.11.6',
    requestParameters: { pendingWindowInDays: 7, keyId },
    responseElements: { keyId: keyArn, keyState: 'PendingDeletion', deletionDate: iso(new Date(now.getTime() + 7 * 86_400_000)) },
    requestID: randomUUID(),
    eventID: eventId,
    readOnly: false,
    resources: [{ accountId: PLANT_ACCOUNT, type: 'AWS::KMS::Key', ARN: keyArn }],
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: PLANT_ACCOUNT,
    eventCategory: 'Management',
  };
  return { record, keyArn, eventId };
}

/** What the alert line says about itself. */
export interface AlertLine {
  id?: string;
  detector?: string;
  key_id?: string;
  event_ids?: string[];
  detected_time?: string;
}

/**
 * Follows a JSONL file as it grows (it may not exist yet), from its size at creation: reading
 * only the appended bytes keeps each poll cheap however long the feed gets.
 */
export class JsonlFollower {
  private offset = 0;
  private partial = '';

  constructor(private readonly path: string) {
    this.offset = existsSync(path) ? statSync(path).size : 0;
  }

  /** The complete lines appended since the last call. */
  poll(): AlertLine[] {
    if (!existsSync(this.path)) return [];
    const size = statSync(this.path).size;
    if (size <= this.offset) return [];
    const buf = Buffer.alloc(size - this.offset);
    const fd = openSync(this.path, 'r');
    try {
      readSync(fd, buf, 0, buf.length, this.offset);
    } finally {
      closeSync(fd);
    }
    this.offset = size;
    const text = this.partial + buf.toString('utf8');
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    const out: AlertLine[] = [];
    for (const l of lines) {
      if (l.trim() === '') continue;
      try {
        out.push(JSON.parse(l) as AlertLine);
      } catch {
        // A line that is not JSON is not an alert; the feed's own tests judge its format.
      }
    }
    return out;
  }
}

/**
 * The plant's own alert: other detectors may report the same event too (admin-off-hours on a
 * weekend, first use by a principal), and one of their alerts can gather several plants.
 */
export function isAlertFor(line: AlertLine, plant: Plant): boolean {
  return line.detector === PLANT_DETECTOR && (line.key_id === plant.keyArn || (Array.isArray(line.event_ids) && line.event_ids.includes(plant.eventId)));
}
