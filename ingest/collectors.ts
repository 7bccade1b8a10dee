import { KeywatchError } from '../core/errors.ts';
import type { Collector } from './collector.ts';
import { awsKmsCollector } from './aws-kms/collector.ts';
import { awsCloudHsmCollector } from './aws-cloudhsm/collector.ts';
import { vaultCollector } from './vault/collector.ts';
import { gcpKmsCollector } from './gcp-kms/collector.ts';
import { azureKeyVaultCollector } from './azure-key-vault/collector.ts';
import { keywatchJsonCollector } from './keywatch-json/collector.ts';
import { lunaHsmCollector } from './luna-hsm/collector.ts';

/** Every collector, in the order auto-detection tries them. One line each. */
export const COLLECTORS: readonly Collector[] = [
  awsKmsCollector,
  awsCloudHsmCollector,
  vaultCollector,
  gcpKmsCollector,
  azureKeyVaultCollector,
  keywatchJsonCollector,
  lunaHsmCollector,
];

export function collectorForFormat(format: string): Collector {
  const c = COLLECTORS.find((x) => x.formats.includes(format) || x.source === format);
  if (!c) {
    const known = COLLECTORS.flatMap((x) => x.formats).join(', ');
    throw new KeywatchError('FORMAT_UNKNOWN', `unknown --format "${format}"; known formats: auto, ${known}`);
  }
  return c;
}

export function sniffCollector(head: string): Collector | undefined {
  return COLLECTORS.find((c) => c.sniff(head));
}
