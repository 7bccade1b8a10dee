import { describe, expect, it } from 'vitest';
import { previousQuarter } from './write.ts';

describe('the quarter a scheduled report covers', () => {
  it('is the quarter before the one the run falls in, across a year boundary too', () => {
    expect(previousQuarter(new Date('2026-10-01T06:00:00Z'))).toEqual({ label: '2026Q3', from: new Date('2026-07-01T00:00:00Z'), to: new Date('2026-10-01T00:00:00Z') });
    expect(previousQuarter(new Date('2026-04-01T06:00:00Z')).label).toBe('2026Q1');
    expect(previousQuarter(new Date('2027-01-01T06:00:00Z'))).toEqual({ label: '2026Q4', from: new Date('2026-10-01T00:00:00Z'), to: new Date('2027-01-01T00:00:00Z') });
    expect(previousQuarter(new Date('2026-12-31T23:59:59Z')).label).toBe('2026Q3');
  });
});
