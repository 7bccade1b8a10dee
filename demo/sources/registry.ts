import type { DemoSource } from './demo-source.ts';
import { awsKmsDemo } from './aws-kms.ts';
import { gcpKmsDemo } from './gcp-kms.ts';
import { azureKeyVaultDemo } from './azure-key-vault.ts';
import { awsCloudHsmDemo } from './aws-cloudhsm.ts';
import { lunaHsmDemo } from './luna-hsm.ts';
import { vaultDemo } from './vault.ts';
import { keywatchJsonDemo } from './keywatch-json.ts';

/** Every source `keywatch demo` generates traffic for. One line each. */
export const DEMO_SOURCES: readonly DemoSource[] = [
  awsKmsDemo,
  gcpKmsDemo,
  azureKeyVaultDemo,
  awsCloudHsmDemo,
  lunaHsmDemo,
  vaultDemo,
  keywatchJsonDemo,
];
