import { event, type DetectorCases } from './cases.ts';

const MRK = 'mrk-1234abcd12ab34cd56ef1234567890ab';
const PRIMARY = `arn:aws:kms:us-east-1:111122223333:key/${MRK}`;
const replicaArn = (region: string) => `arn:aws:kms:${region}:111122223333:key/${MRK}`;

const ALICE = { type: 'IAMUser', principalId: 'AIDAZ4EXAMPLE7K9M1P3', arn: 'arn:aws:iam::111122223333:user/Alice', accountId: '111122223333', accessKeyId: 'ASIAZ4EXAMPLE2C4E6G8', userName: 'Alice' };

/**
 * ReplicateKey as CloudTrail writes it in the primary key's region (AWS KMS developer guide,
 * ct-replicate-key): the primary key in `resources`, the replica region in the request, the
 * replica's metadata (state Creating) in the response.
 */
function replicateKey(eventTime: string, eventID: string, replicaRegion: string, more: Record<string, unknown> = {}): string {
  return JSON.stringify({
    eventVersion: '1.08',
    userIdentity: ALICE,
    eventTime,
    eventSource: 'kms.amazonaws.com',
    eventName: 'ReplicateKey',
    awsRegion: 'us-east-1',
    sourceIPAddress: '192.0.2.0',
    userAgent: 'AWS Internal',
    requestParameters: { keyId: MRK, replicaRegion, bypassPolicyLockoutSafetyCheck: false, description: '' },
    responseElements: {
      replicaKeyMetadata: { aWSAccountId: '111122223333', keyId: MRK, arn: replicaArn(replicaRegion), enabled: false, keyUsage: 'ENCRYPT_DECRYPT', keyState: 'Creating', origin: 'AWS_KMS', keyManager: 'CUSTOMER', keySpec: 'SYMMETRIC_DEFAULT', multiRegion: true },
    },
    requestID: `req-${eventID}`,
    eventID,
    readOnly: false,
    resources: [{ accountId: '111122223333', type: 'AWS::KMS::Key', ARN: PRIMARY }],
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: '111122223333',
    eventCategory: 'Management',
    ...more,
  });
}

/** The CreateKey that the same request leaves in the replica's region. */
function replicaCreateKey(eventTime: string, eventID: string, region: string): string {
  return JSON.stringify({
    eventVersion: '1.08',
    userIdentity: ALICE,
    eventTime,
    eventSource: 'kms.amazonaws.com',
    eventName: 'CreateKey',
    awsRegion: region,
    sourceIPAddress: '192.0.2.0',
    userAgent: 'AWS Internal',
    requestParameters: { keyUsage: 'ENCRYPT_DECRYPT', keySpec: 'SYMMETRIC_DEFAULT', origin: 'AWS_KMS', multiRegion: true },
    responseElements: { keyMetadata: { aWSAccountId: '111122223333', keyId: MRK, arn: replicaArn(region), keyState: 'Creating', origin: 'AWS_KMS', keyManager: 'CUSTOMER', keySpec: 'SYMMETRIC_DEFAULT', multiRegion: true } },
    requestID: `req-${eventID}`,
    eventID,
    readOnly: false,
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: '111122223333',
    eventCategory: 'Management',
  });
}

const usePrimary = (event_time: string) => event({ event_time, key_id: PRIMARY, region: 'us-east-1' });

export const cases: DetectorCases = {
  fires: [
    {
      name: 'an AWS multi-Region key replicated to us-west-2 (ReplicateKey) whose replica never appears there, eight days on',
      now: '2026-03-10T12:00:00Z',
      records: { format: 'aws-cloudtrail', lines: [replicateKey('2026-03-02T01:29:18Z', '0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6', 'us-west-2')] },
      events: [usePrimary('2026-03-10 11:00:00.000')],
      expect: { alerts: 1, key_id: PRIMARY, principal: 'arn:aws:iam::111122223333:user/Alice', evidenceIncludes: { expected_key: replicaArn('us-west-2'), expected_because: 'ReplicateKey' } },
    },
    {
      name: 'replicas requested in us-west-2 and eu-west-1: only the eu-west-1 one shows up (its CreateKey), so one alert for us-west-2',
      now: '2026-03-10T12:00:00Z',
      records: {
        format: 'aws-cloudtrail',
        lines: [
          replicateKey('2026-03-02T01:29:18Z', '0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6', 'us-west-2'),
          replicateKey('2026-03-02T01:31:02Z', '1e2f3a4b-5c6d-4e7f-9081-92a3b4c5d6e7', 'eu-west-1'),
          replicaCreateKey('2026-03-02T01:31:03Z', '2f3a4b5c-6d7e-4f80-a192-a3b4c5d6e7f8', 'eu-west-1'),
        ],
      },
      events: [usePrimary('2026-03-10 11:00:00.000')],
      expect: { alerts: 1, evidenceIncludes: { expected_region: 'us-west-2' } },
    },
  ],
  quiet: [
    {
      name: 'ReplicateKey followed by the replica\'s CreateKey in us-west-2',
      now: '2026-03-10T12:00:00Z',
      records: { format: 'aws-cloudtrail', lines: [replicateKey('2026-03-02T01:29:18Z', '0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6', 'us-west-2'), replicaCreateKey('2026-03-02T01:29:19Z', '3a4b5c6d-7e8f-4091-b2a3-b4c5d6e7f809', 'us-west-2')] },
      events: [usePrimary('2026-03-10 11:00:00.000')],
    },
    {
      name: 'a replica requested two hours ago that has not appeared yet: inside the grace period',
      now: '2026-03-02T03:30:00Z',
      records: { format: 'aws-cloudtrail', lines: [replicateKey('2026-03-02T01:29:18Z', '0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6', 'us-west-2')] },
      events: [usePrimary('2026-03-02 03:00:00.000')],
    },
    {
      name: 'a ReplicateKey refused (AccessDeniedException) promises no replica',
      now: '2026-03-10T12:00:00Z',
      records: {
        format: 'aws-cloudtrail',
        lines: [replicateKey('2026-03-02T01:29:18Z', '0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6', 'us-west-2', { errorCode: 'AccessDeniedException', errorMessage: 'User: arn:aws:iam::111122223333:user/Alice is not authorized to perform: kms:ReplicateKey', responseElements: null })],
      },
      events: [usePrimary('2026-03-10 11:00:00.000')],
    },
    {
      name: 'a multi-Region primary key (CreateKey multiRegion true) never replicated, and no drRegions setting',
      now: '2026-03-10T12:00:00Z',
      records: { format: 'aws-cloudtrail', lines: [replicaCreateKey('2026-03-02T01:00:00Z', '4b5c6d7e-8f90-4a1b-c3d4-e5f60718293a', 'us-east-1')] },
      events: [usePrimary('2026-03-10 11:00:00.000')],
    },
    {
      name: 'a GCP key with no drRegions setting',
      now: '2026-03-02T12:00:00Z',
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/decrypt-data-access.json' },
    },
  ],
};
