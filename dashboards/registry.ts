import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { attestationDashboard } from './attestation.ts';
import { debugDashboard } from './debug.ts';
import { executiveDashboard } from './executive.ts';
import { onCallDashboard } from './on-call.ts';
import { sloDashboard } from './slo.ts';

/** Every dashboard keywatch ships, with the file name `keywatch dashboards build` writes it to. */
export const DASHBOARDS: readonly { file: string; build: () => Dashboard }[] = [
  { file: 'executive.json', build: executiveDashboard },
  { file: 'on-call.json', build: onCallDashboard },
  { file: 'debug.json', build: debugDashboard },
  { file: 'slo.json', build: sloDashboard },
  { file: 'attestation.json', build: attestationDashboard },
];
