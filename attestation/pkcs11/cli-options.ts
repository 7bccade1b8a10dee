import { KeywatchError } from '../../core/errors.ts';
import type { PinSource } from './pin.ts';
import type { SlotSelector } from './session.ts';

/**
 * The options `keywatch attest pkcs11` and `keywatch probe` share, checked at the edge: exactly one
 * of --slot / --token and exactly one of --pin-env / --pin-file. A bad combination is a usage error.
 *
 * @example slotSelector({ slot: '0' }) // { index: 0 }
 */
export interface TokenFlags {
  module: string;
  slot?: string;
  slotId?: string;
  token?: string;
  pinEnv?: string;
  pinFile?: string;
}

export function slotSelector(f: TokenFlags): SlotSelector {
  const given = [f.slot, f.slotId, f.token].filter((v) => v !== undefined);
  if (given.length !== 1) throw new KeywatchError('USAGE', 'give exactly one of --slot INDEX, --slot-id ID or --token LABEL');
  if (f.token !== undefined) return { label: f.token };
  if (f.slotId !== undefined) {
    if (!/^\d+$/.test(f.slotId)) throw new KeywatchError('USAGE', `--slot-id must be a decimal slot id, got ${JSON.stringify(f.slotId)}`);
    return { id: f.slotId };
  }
  if (!/^\d+$/.test(f.slot ?? '')) throw new KeywatchError('USAGE', `--slot must be the index of a slot with a token (0, 1, ...), got ${JSON.stringify(f.slot)}`);
  return { index: Number(f.slot) };
}

export function pinSource(f: TokenFlags): PinSource {
  if ((f.pinEnv === undefined) === (f.pinFile === undefined)) throw new KeywatchError('USAGE', 'give exactly one of --pin-env VAR or --pin-file FILE (never the PIN itself)');
  return f.pinEnv !== undefined ? { env: f.pinEnv } : { file: f.pinFile! };
}
