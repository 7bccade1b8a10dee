import type { Collector } from '../collector.ts';
import { azureKeyVaultClassifySql, azureKeyVaultNormalizeSql } from './normalize-sql.ts';

const OPERATION_NAME = [Buffer.from('"operationName"'), Buffer.from('"OperationName"')];
// resourceId is upper case in storage records and AzureDiagnostics, lower case in _ResourceId.
const PROVIDER = [Buffer.from('MICROSOFT.KEYVAULT'), Buffer.from('microsoft.keyvault'), Buffer.from('Microsoft.KeyVault')];

export const azureKeyVaultCollector: Collector = {
  source: 'azure-key-vault',
  formats: ['azure-key-vault', 'azure-keyvault', 'azure'],
  description:
    'Azure Key Vault and Managed HSM AuditEvent diagnostic logs: storage-account blobs (PT1H.json lines or {"records":[...]}), Event Hub exports, Log Analytics AZKVAuditLogs / AzureDiagnostics rows (JSON array or NDJSON)',
  sniff: (head) => /"[oO]perationName"\s*:/.test(head) && /microsoft\.keyvault\/(vaults|managedhsms)\//i.test(head),
  sniffRecord: (r) => OPERATION_NAME.some((b) => r.includes(b)) && PROVIDER.some((b) => r.includes(b)),
  normalizeSql: azureKeyVaultNormalizeSql,
  classifySql: azureKeyVaultClassifySql,
};
