import { issue, type Issue } from '../codes.ts';

/**
 * Maps the error a provider returned for an import to a finding with a stable code, so that a
 * failed import in CI reads the same way as an offline check that predicted it.
 *
 * AWS ImportKeyMaterial errors (https://docs.aws.amazon.com/kms/latest/APIReference/API_ImportKeyMaterial.html):
 * - ExpiredImportTokenException: the import token is expired;
 * - InvalidCiphertextException: KMS could not decrypt the wrapped key material (wrong wrapping
 *   algorithm, OAEP hash, or public key);
 * - InvalidImportTokenException: the token is invalid or belongs to another KMS key;
 * - IncorrectKeyMaterialException: the material is invalid, or not the material imported before.
 * GCP: cryptoKeyVersions.import on an expired job fails with FAILED_PRECONDITION (gRPC code 9)
 * and a message about the import job being expired
 * (https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.importJobs: "Once
 * expired, Cloud KMS will no longer be able to import or unwrap any key material").
 * Azure: an import with a bad .byok blob fails with error code BadParameter and a message naming
 * the BYOK blob; the exact wording is not documented, so any BadParameter that mentions "BYOK"
 * maps here.
 *
 * @example mapProviderError('aws', 'InvalidCiphertextException') // { code: 'IMPORT_PROVIDER_CIPHERTEXT_REJECTED', ... }
 */
export function mapProviderError(provider: 'aws' | 'gcp' | 'azure', error: string): Issue {
  const e = error.trim();
  const said = `${provider} said: ${e.slice(0, 200)}`;
  if (provider === 'aws') {
    if (/ExpiredImportToken/.test(e)) return issue('IMPORT_TOKEN_EXPIRED', `the import token had expired (${said}); call GetParametersForImport again and re-wrap`);
    if (/InvalidCiphertext/.test(e)) return issue('IMPORT_PROVIDER_CIPHERTEXT_REJECTED', `KMS could not decrypt the wrapped material (${said}); check the wrapping algorithm, its OAEP hash, and that the public key is the one from the same GetParametersForImport call`);
    if (/InvalidImportToken/.test(e)) return issue('IMPORT_PROVIDER_TOKEN_INVALID', `the import token is invalid or belongs to another KMS key (${said})`);
    if (/IncorrectKeyMaterial/.test(e)) return issue('IMPORT_PROVIDER_KEY_MATERIAL_REJECTED', `the material does not fit the KMS key spec, or differs from the material imported before (${said})`);
  }
  if (provider === 'gcp' && /FAILED_PRECONDITION|\b9\b/.test(e) && /expir/i.test(e)) {
    return issue('IMPORT_TOKEN_EXPIRED', `the import job had expired (${said}); create a new import job and re-wrap`);
  }
  if (provider === 'azure' && /BadParameter|Invalid BYOK blob/i.test(e) && /BYOK/i.test(e)) {
    return issue('IMPORT_PROVIDER_BLOB_REJECTED', `Key Vault rejected the .byok blob (${said}); check the KEK, CKM_RSA_AES_KEY_WRAP with OAEP/SHA-1, and the target key type`);
  }
  return issue('IMPORT_PROVIDER_ERROR_UNKNOWN', `an error keywatch does not map to a cause (${said})`);
}
