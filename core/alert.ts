/**
 * One row of the `alerts` table (storage/migrations/0003_alerts.sql, 0005_slo.sql): the one
 * alert feed that detectors and the SLO engine write and the outputs read. Times are ClickHouse
 * text (`2026-03-02 08:14:52.000`).
 */
export type AlertStatus = 'open' | 'suppressed' | 'resolved';

export type AlertRecord = {
  alert_id: string;
  detected_time: string;
  detector: string;
  title: string;
  severity: 'info' | 'low' | 'medium' | 'high' | 'critical';
  score: number;
  tenant: string;
  key_id: string;
  principal: string;
  first_time: string;
  last_time: string;
  event_count: number;
  event_ids: string[];
  evidence: string;
  runbook: string;
  status: AlertStatus;
  suppressed_by: string;
  resolved_time?: string | null;
};
