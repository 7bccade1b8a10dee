import type { Clock } from '../../core/clock.ts';
import { openPkcs11Session, type SlotSelector } from '../pkcs11/session.ts';
import { runProbes, unreachableRecords, type ProbeOptions, type ProbeRecord } from './probe.ts';

/**
 * One round of probes, as `keywatch probe` and the service's probe schedule run it: open a session,
 * probe, close. A token that cannot be opened gives failure records (so a dead HSM shows in the
 * data) and the open error.
 *
 * @example const r = probeRound({ modulePath, slot: { label: 'prod' }, pin, wrapKey: 'kek-1', cryptoKey: 'dek-1', count: 1 }, systemClock);
 */
export interface ProbeRoundResult {
  records: ProbeRecord[];
  tokenLabel: string;
  /** Set when the token could not be opened; the records are then failure records. */
  openError?: { message: string };
}

export function probeRound(o: ProbeOptions & { modulePath: string; slot: SlotSelector; pin: string }, clock: Clock): ProbeRoundResult {
  const options: ProbeOptions = { wrapKey: o.wrapKey, cryptoKey: o.cryptoKey, count: o.count, modulePath: o.modulePath };
  const opened = openPkcs11Session({ modulePath: o.modulePath, slot: o.slot, pin: o.pin });
  if (!opened.ok) {
    const tokenLabel = 'label' in o.slot ? o.slot.label : 'id' in o.slot ? `slot-${o.slot.id}` : `slot-${o.slot.index}`;
    return { records: unreachableRecords({ ...options, tokenLabel }, opened.error, clock), tokenLabel, openError: { message: opened.error.message } };
  }
  const session = opened.value;
  try {
    return { records: runProbes(session, options, clock), tokenLabel: session.tokenLabel };
  } finally {
    session.close();
  }
}
