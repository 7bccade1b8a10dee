import type { AlertsSection, AttestationSection, InventorySection, RotationSection, ScopeSection, AdminOpsSection, AccessSection } from './gather.ts';

export type SectionId = 'scope' | 'inventory' | 'rotation' | 'access' | 'admin_operations' | 'attestations' | 'slos' | 'alerts';
export type ControlStatus = 'supported' | 'exceptions' | 'no_evidence';

export type ControlRow = { framework: string; control: string; requirement: string; sections: string; status: ControlStatus; note: string };

interface Sections {
  scope: ScopeSection;
  inventory: InventorySection;
  rotation: RotationSection;
  access: AccessSection;
  admin_operations: AdminOpsSection;
  attestations: AttestationSection;
  alerts: AlertsSection;
}

/**
 * Which section's evidence supports which control, and whether that evidence shows exceptions.
 * The mapping is keywatch's reading of each control; an auditor decides whether it suffices.
 */
export function controlMapping(s: Sections): ControlRow[] {
  const rotationStatus: ControlStatus = s.rotation.evaluated === 0 ? 'no_evidence' : s.rotation.overdue > 0 ? 'exceptions' : 'supported';
  const rotationNote = `${s.rotation.overdue} of ${s.rotation.evaluated} keys past their cryptoperiod at ${s.rotation.as_of}`;
  const gcpKeys = s.rotation.keys.filter((k) => k.source === 'gcp-kms');
  const gcpUnrotated = gcpKeys.filter((k) => k.overdue || k.schedule === 'none' || k.schedule === 'disabled').length;
  const awsKeys = s.rotation.keys.filter((k) => k.source === 'aws-kms' && !k.byok && !k.deleted);
  const awsNoRotation = awsKeys.filter((k) => k.schedule !== 'enabled').length;
  const integrityOk = s.scope.chain.ok && s.scope.audit_gaps.length === 0;
  const destructiveNote = `${s.admin_operations.destructive} destructive and ${s.admin_operations.total} administrative events logged; ${s.alerts.total} alerts`;
  return [
    {
      framework: 'PCI DSS v4.0', control: '3.6', requirement: 'Cryptographic keys used to protect stored account data are secured (access restricted to the fewest custodians, keys stored securely).',
      sections: 'inventory, access, attestations', status: s.inventory.keys.length === 0 ? 'no_evidence' : s.access.cross_account_pairs > 0 ? 'exceptions' : 'supported',
      note: `${s.inventory.keys.length} keys, ${s.access.principals} principals, ${s.access.cross_account_pairs} cross-account key/principal pairs, ${s.attestations.total} attestations`,
    },
    {
      framework: 'PCI DSS v4.0', control: '3.7', requirement: 'Key-management processes cover the key lifecycle: cryptoperiods, retirement/replacement, and prevention of unauthorized substitution.',
      sections: 'rotation, admin_operations', status: rotationStatus, note: `${rotationNote}; ${destructiveNote}`,
    },
    {
      framework: 'NIST SP 800-57 Part 1 Rev. 5', control: '5.3 Cryptoperiods', requirement: 'Each key has a cryptoperiod after which it is replaced.',
      sections: 'rotation', status: rotationStatus, note: rotationNote,
    },
    {
      framework: 'CIS AWS Foundations Benchmark', control: 'KMS key rotation (3.6 in v3.0.0, 3.8 in v1.5.0)', requirement: 'Rotation is enabled for customer-created symmetric KMS keys.',
      sections: 'rotation', status: awsKeys.length === 0 ? 'no_evidence' : awsNoRotation > 0 ? 'exceptions' : 'supported',
      note: `${awsNoRotation} of ${awsKeys.length} AWS KMS keys (provider material, not deleted) without an enabled rotation schedule in the log`,
    },
    {
      framework: 'GCP Security Command Center', control: 'KMS_KEY_NOT_ROTATED', requirement: 'Cloud KMS keys have a rotation period of at most 90 days and are rotated.',
      sections: 'rotation', status: gcpKeys.length === 0 ? 'no_evidence' : gcpUnrotated > 0 ? 'exceptions' : 'supported',
      note: `${gcpUnrotated} of ${gcpKeys.length} Cloud KMS keys overdue or without a rotation schedule`,
    },
    {
      framework: 'SOC 2 (2017 TSC)', control: 'CC6.1', requirement: 'Logical access to protected information assets is restricted, and access is monitored.',
      sections: 'scope, access, admin_operations, alerts', status: s.scope.sources.length === 0 ? 'no_evidence' : integrityOk ? 'supported' : 'exceptions',
      note: `audit chain ${s.scope.chain.ok ? 'verified' : 'broken'} over ${s.scope.chain.batches} batches; ${s.scope.audit_gaps.length} audit sequence gaps; ${s.scope.coverage_gaps.length} coverage gaps; ${s.access.new_pairs} new key/principal pairs`,
    },
  ];
}
