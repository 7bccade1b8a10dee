/**
 * Dashboard uids. They are part of every link and bookmark to a dashboard, so they never change;
 * dashboards/verify.test.ts holds the golden list.
 */
export const ON_CALL_UID = 'keywatch-on-call';
export const DEBUG_UID = 'keywatch-debug';
export const EXECUTIVE_UID = 'keywatch-executive';
export const SLO_UID = 'keywatch-slo';
export const ATTESTATION_UID = 'keywatch-attestation';
