import { createHash } from 'node:crypto';
import type { Pkcs11Attestation } from './residency.ts';

/**
 * The key check value comparison of a live PKCS#11 check as a keywatch-json key event, in the
 * input contract of the kcv-mismatch detector (detectors/kcv-mismatch.ts): source `attestation`,
 * operation `describe`, vendor_operation `KeyCheckValue`, key_id the provider's key, attributes
 * kcv (the customer HSM's), provider_kcv, kcv_method and hsm_key. Check values only: never key
 * material. Undefined when there was no comparison (no provider KCV, or no KCV from the token).
 *
 * @example const ev = kcvComparisonEvent(result, { providerKeyId: 'arn:aws:kms:...:key/1234', hsmKey: 'prod:kek-1', tenant: 'acme', at: new Date() })
 */
export function kcvComparisonEvent(
  result: Pkcs11Attestation,
  o: { providerKeyId: string; hsmKey: string; tenant?: string; at: Date },
): Record<string, unknown> | undefined {
  const own = result.evidence.kcv;
  const provider = result.evidence.providerKcv;
  if (!own || !provider || provider.comparison === 'incomparable') return undefined;
  const at = o.at.toISOString();
  return {
    source: 'attestation',
    event_id: `attestation:kcv:${createHash('sha256').update([o.providerKeyId, o.hsmKey, own.value, provider.value, at].join('\u0000')).digest('hex').slice(0, 32)}`,
    event_time: at,
    operation: 'describe',
    vendor_operation: 'KeyCheckValue',
    outcome: 'success',
    key_id: o.providerKeyId,
    principal: 'keywatch-attest',
    principal_type: 'service_account',
    ...(o.tenant ? { tenant: o.tenant } : {}),
    attributes: { kcv: own.value, provider_kcv: provider.value, kcv_method: own.algorithm, hsm_key: o.hsmKey, comparison: provider.comparison },
  };
}
