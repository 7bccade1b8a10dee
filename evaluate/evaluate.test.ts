import { describe, expect, it } from 'vitest';
import { alertMatches, baselineCounts, evaluate, formatEvaluation, parseTime, type EvalAlert, type LabeledIncident } from './evaluate.ts';

const alert = (a: Partial<EvalAlert> & Pick<EvalAlert, 'detector'>): EvalAlert => ({
  tenant: 'acme',
  principal: 'arn:aws:iam::999988887777:user/mallory',
  key_id: 'arn:aws:kms:eu-west-1:111122223333:key/abcd',
  first_time: '2026-11-27 03:12:00.000',
  last_time: '2026-11-27 03:17:00.000',
  status: 'open',
  ...a,
});

const burst: LabeledIncident = {
  source: 'aws-kms',
  id: 'external-decrypt-burst',
  at: '2026-11-27T03:12:00Z',
  what: 'burst',
  expect: { detectors: ['cross-account-use', 'burst'], tenant: 'acme', principal: 'mallory' },
};
const deletion: LabeledIncident = {
  source: 'aws-kms',
  id: 'key-deleted',
  at: '2026-11-27T22:41:00Z',
  what: 'deleted',
  expect: { detectors: ['key-disabled-or-deleted'], tenant: 'globex', key_id: 'key/ffff', windowMinutes: 10 },
};
const gap: LabeledIncident = { source: 'gcp-kms', id: 'coverage-gap', at: '2026-11-20T09:05:00Z', what: 'no data access logs', expect: { detectors: [] } };

describe('parseTime', () => {
  it('reads ClickHouse and ISO times as UTC', () => {
    expect(parseTime('2026-11-27 03:12:00.000')).toBe(Date.parse('2026-11-27T03:12:00Z'));
    expect(parseTime('2026-11-27T03:12:00.000Z')).toBe(Date.parse('2026-11-27T03:12:00Z'));
  });
});

describe('alertMatches', () => {
  it('needs an expected detector, the tenant, the labeled principal and key id, and overlapping times', () => {
    expect(alertMatches(alert({ detector: 'cross-account-use' }), burst)).toBe(true);
    expect(alertMatches(alert({ detector: 'volume-anomaly' }), burst)).toBe(false);
    expect(alertMatches(alert({ detector: 'burst', tenant: 'globex' }), burst)).toBe(false);
    expect(alertMatches(alert({ detector: 'burst', principal: 'arn:aws:iam::111122223333:role/orders-api' }), burst)).toBe(false);
    // Principal and key id compare as case-insensitive whole tokens (a key id inside its ARN).
    expect(alertMatches(alert({ detector: 'burst', principal: 'arn:aws:iam::999988887777:user/MALLORY' }), burst)).toBe(true);
    expect(alertMatches(alert({ detector: 'burst', principal: 'arn:aws:iam::999988887777:user/mallory2' }), burst)).toBe(false);
    const co: LabeledIncident = { ...burst, expect: { detectors: ['failure-spike'], principal: 'CO' } };
    expect(alertMatches(alert({ detector: 'failure-spike', principal: 'CO' }), co)).toBe(true);
    expect(alertMatches(alert({ detector: 'failure-spike', principal: 'secops' }), co)).toBe(false);
    expect(alertMatches(alert({ detector: 'failure-spike', principal: 'admin' }), co)).toBe(false);
    expect(alertMatches(alert({ detector: 'key-disabled-or-deleted', tenant: 'globex', key_id: 'arn:aws:kms:eu-west-1:1:key/ffff', first_time: '2026-11-27 22:41:00.000', last_time: '2026-11-27 22:42:35.000' }), deletion)).toBe(true);
    expect(alertMatches(alert({ detector: 'key-disabled-or-deleted', tenant: 'globex', key_id: 'key/eeee', first_time: '2026-11-27 22:41:00.000', last_time: '2026-11-27 22:41:00.000' }), deletion)).toBe(false);
    // An alert that names no key (one per principal) is not held to the labeled key.
    const offHours: LabeledIncident = { ...deletion, expect: { detectors: ['admin-off-hours'], tenant: 'globex', key_id: 'key/ffff', windowMinutes: 10 } };
    expect(alertMatches(alert({ detector: 'admin-off-hours', tenant: 'globex', key_id: '', first_time: '2026-11-27 22:41:00.000', last_time: '2026-11-27 22:42:35.000' }), offHours)).toBe(true);
    expect(alertMatches(alert({ detector: 'admin-off-hours', tenant: 'globex', key_id: 'key/eeee', first_time: '2026-11-27 22:41:00.000', last_time: '2026-11-27 22:42:35.000' }), offHours)).toBe(false);
    expect(alertMatches(alert({ detector: 'burst' }), gap)).toBe(false);
    expect(alertMatches(alert({ detector: 'burst' }), { ...burst, expect: undefined })).toBe(false);
  });

  it('uses a window of 60 minutes around the incident by default, or the label\'s', () => {
    // An alert spanning the window edge overlaps; one ending before it does not.
    expect(alertMatches(alert({ detector: 'burst', first_time: '2026-11-27 01:00:00.000', last_time: '2026-11-27 02:12:00.000' }), burst)).toBe(true);
    expect(alertMatches(alert({ detector: 'burst', first_time: '2026-11-27 01:00:00.000', last_time: '2026-11-27 02:11:59.000' }), burst)).toBe(false);
    expect(alertMatches(alert({ detector: 'burst', first_time: '2026-11-27 04:12:00.000', last_time: '2026-11-27 05:00:00.000' }), burst)).toBe(true);
    expect(alertMatches(alert({ detector: 'burst', first_time: '2026-11-27 04:12:01.000', last_time: '2026-11-27 05:00:00.000' }), burst)).toBe(false);
    // A long alert that covers the incident matches.
    expect(alertMatches(alert({ detector: 'burst', first_time: '2026-11-26 00:00:00.000', last_time: '2026-11-28 00:00:00.000' }), burst)).toBe(true);
    const del = { detector: 'key-disabled-or-deleted', tenant: 'globex', key_id: 'key/ffff' };
    expect(alertMatches(alert({ ...del, first_time: '2026-11-27 22:51:00.000', last_time: '2026-11-27 22:51:00.000' }), deletion)).toBe(true);
    expect(alertMatches(alert({ ...del, first_time: '2026-11-27 22:52:00.000', last_time: '2026-11-27 22:52:00.000' }), deletion)).toBe(false);
  });
});

describe('evaluate', () => {
  it('scores recall per expected detector and precision per alert', () => {
    const alerts: EvalAlert[] = [
      alert({ detector: 'cross-account-use' }),
      alert({ detector: 'cross-account-use', first_time: '2026-11-27 03:40:00.000', last_time: '2026-11-27 03:41:00.000' }), // the same incident again: matched
      alert({ detector: 'cross-account-use', tenant: 'initech', first_time: '2026-11-20 10:00:00.000', last_time: '2026-11-20 10:00:00.000' }), // a false alarm
      alert({ detector: 'volume-anomaly' }), // a detector the incident does not name: unmatched
      alert({ detector: 'key-disabled-or-deleted', status: 'suppressed' }), // suppressed: not counted
    ];
    const e = evaluate([burst, deletion, gap], alerts, ['key-disabled-or-deleted', 'cross-account-use', 'burst', 'volume-anomaly', 'rotation-overdue']);
    const row = (d: string) => e.detectors.find((s) => s.detector === d);
    expect(row('cross-account-use')).toEqual({ detector: 'cross-account-use', expected: 1, found: 1, recall: 1, alerts: 3, matched: 2, precision: 2 / 3 });
    expect(row('burst')).toEqual({ detector: 'burst', expected: 1, found: 0, recall: 0, alerts: 0, matched: 0, precision: null });
    expect(row('key-disabled-or-deleted')).toEqual({ detector: 'key-disabled-or-deleted', expected: 1, found: 0, recall: 0, alerts: 0, matched: 0, precision: null });
    expect(row('volume-anomaly')).toEqual({ detector: 'volume-anomaly', expected: 0, found: 0, recall: null, alerts: 1, matched: 0, precision: 0 });
    expect(row('rotation-overdue')).toEqual({ detector: 'rotation-overdue', expected: 0, found: 0, recall: null, alerts: 0, matched: 0, precision: null });
    expect(e.detectors.map((d) => d.detector)).toEqual(['key-disabled-or-deleted', 'cross-account-use', 'burst', 'volume-anomaly', 'rotation-overdue']);
    expect(e.incidents).toEqual([
      { source: 'aws-kms', id: 'external-decrypt-burst', at: burst.at, what: 'burst', expected: ['cross-account-use', 'burst'], foundBy: ['cross-account-use'], missedBy: ['burst'] },
      { source: 'aws-kms', id: 'key-deleted', at: deletion.at, what: 'deleted', expected: ['key-disabled-or-deleted'], foundBy: [], missedBy: ['key-disabled-or-deleted'] },
    ]);
    expect(e.unlabeled.map((u) => u.id)).toEqual(['coverage-gap']);
    expect(e.overall).toEqual({ incidents: 2, incidentsFullyFound: 0, incidentsFound: 1, expected: 3, found: 1, recall: 1 / 3, alerts: 4, matched: 2, precision: 0.5 });

    const text = formatEvaluation(e, { days: 30, counts: baselineCounts([alert({ detector: 'volume-anomaly' })], ['burst']) });
    expect(text).toMatch(/cross-account-use\s+1\s+1\s+1\.00\s+3\s+2\s+0\.67\s+0/);
    expect(text).toMatch(/overall\s+3\s+1\s+0\.33\s+4\s+2\s+0\.50\s+1/);
    expect(text).toContain('aws-kms/external-decrypt-burst: burst (found by cross-account-use)');
    expect(text).toContain('no alert on a 30-day clean baseline');
    expect(text).toContain('volume-anomaly 1');
    expect(text).toContain('gcp-kms/coverage-gap');
  });

  it('finds everything with one matching alert per expected detector and no false alarm', () => {
    const e = evaluate([burst], [alert({ detector: 'cross-account-use' }), alert({ detector: 'burst' })]);
    expect(e.overall).toMatchObject({ incidents: 1, incidentsFullyFound: 1, recall: 1, precision: 1 });
  });
});

describe('baselineCounts', () => {
  it('counts open alerts per detector, zero rows included', () => {
    expect(baselineCounts([alert({ detector: 'burst' }), alert({ detector: 'burst' }), alert({ detector: 'rotation-overdue', status: 'suppressed' })], ['rotation-overdue', 'burst'])).toEqual([
      { detector: 'rotation-overdue', alerts: 0 },
      { detector: 'burst', alerts: 2 },
    ]);
  });
});
