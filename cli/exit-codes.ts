import type { ErrorCode } from '../core/errors.ts';

/** Documented process exit codes (README, "Exit codes"). */
export const EXIT = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  INPUT: 3,
  STORE: 4,
  QUARANTINED: 5,
  INTEGRITY: 6,
  /** `keywatch attest`: the proof or the import material is invalid. */
  ATTESTATION_FAILED: 7,
  /** `keywatch attest`: the proof is valid, but the policy does not allow the key. */
  POLICY_DENIED: 8,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'USAGE':
    case 'CONFIG_INVALID':
    case 'SLO_SPEC_INVALID':
    case 'FORMAT_UNKNOWN':
    case 'READ_ONLY_VIOLATION':
      return EXIT.USAGE;
    case 'INPUT_NOT_FOUND':
    case 'INPUT_UNREADABLE':
    case 'TRANSPORT_UNAVAILABLE':
      return EXIT.INPUT;
    case 'CHAIN_BROKEN':
      return EXIT.INTEGRITY;
    default:
      return EXIT.STORE;
  }
}
