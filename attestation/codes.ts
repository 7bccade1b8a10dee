/**
 * Stable failure and warning codes of the attestation module. A code never changes meaning once
 * released; new situations get new codes. Every code has a negative test (see README.md, "Codes").
 *
 * @example if (result.failures.some((f) => f.code === 'SIG_INVALID')) ...
 */
export const ATTESTATION_CODES = {
  // input and format
  INPUT_TOO_LARGE: 'the input is larger than the configured limit',
  DECODE_FAILED: 'the input is not valid base64/base64url/gzip/JSON/PEM',
  DECOMPRESSED_TOO_LARGE: 'the gzip stream inflates past the limit (possible gzip bomb); decompression stopped',
  FORMAT_UNSUPPORTED: 'the declared attestation format or version is not one this verifier knows',
  LAYOUT_UNSUPPORTED: 'the blob does not have the header-driven Marvell layout (response code, flags or object version differ)',
  LAYOUT_TRUNCATED: 'a length or offset in the blob points past its end',
  LAYOUT_INCONSISTENT: 'the size fields, handles or object offsets of the blob contradict each other',
  LAYOUT_TRAILING_BYTES: 'bytes are left over after the last attribute of an object or after the signed data',
  ATTR_TOO_MANY: 'an object declares more attributes than the limit',
  ATTR_DUPLICATE: 'an attribute appears twice in one object',
  ATTR_MISSING: 'an attribute needed for the evidence record is absent',
  ATTR_INVALID: 'an attribute has a length or value that its type does not allow',
  // certificates and chains
  CERT_UNPARSEABLE: 'a certificate in the bundle cannot be parsed',
  CHAIN_ROOT_KEY_NOT_PINNED: 'the bundle holds a root with a pinned anchor name but a different key; it is not trusted',
  CHAIN_MFR_NOT_FOUND: 'no manufacturer chain (pinned root -> card -> partition) links by name and signature',
  CHAIN_OWNER_NOT_FOUND: 'an owner chain was required but no certificate links to a pinned owner root',
  CHAIN_CARD_KEY_MISMATCH: 'the owner-issued card certificate carries a different key than the manufacturer card certificate',
  CHAIN_PARTITION_KEY_MISMATCH: 'the owner-issued partition certificate carries a different key than the manufacturer partition certificate',
  CHAIN_CERT_EXPIRED: 'a certificate on the chosen path (or every certificate of a pinned root key) is past notAfter at "now"',
  CHAIN_CERT_NOT_YET_VALID: 'a certificate on the chosen path is before notBefore at "now"',
  CHAIN_V1_NOT_ALLOWED: 'a v1 certificate is on a path under an anchor not flagged for legacy v1 certificates',
  CHAIN_ISSUER_NOT_CA: 'a v3 certificate without basicConstraints CA:TRUE issues another certificate on the path',
  // signature
  SIG_LENGTH_MISMATCH: 'the partition key size does not match the signature length of the blob',
  SIG_INVALID: 'the RSA PKCS#1 v1.5 / SHA-256 signature over the blob does not verify with the partition key',
  // binding
  KEY_MATERIAL_MISMATCH: 'the SPKI rebuilt from the attested modulus/point does not hash to the attested EKCV (0x1003)',
  OBJECTS_DIFFER: 'the public and private objects of one attestation carry different KCV/EKCV values',
  BINDING_MISMATCH: 'attribute 0x1003 does not equal SHA-256 of the expected public key SPKI',
  BINDING_UNAVAILABLE: 'the attestation cannot be bound to a key (no expected key given, or no EKCV in the blob)',
  KEY_UNPARSEABLE: 'the expected public key cannot be read as PEM, JWK, DER SPKI, RSA (n, e) or EC point',
  // warnings only
  ANCHOR_CERT_EXPIRED: 'a certificate of a pinned root key has expired, but another certificate of the same key is valid',
  CHAIN_LEFTOVER_CERTS: 'the bundle holds certificates that no chain used',
  CHAIN_OWNER_ABSENT: 'no owner chain in the bundle; only the manufacturer chain vouches for the partition key',
  // policy (a valid attestation that the chosen policy does not allow)
  POLICY_NO_KEY_OBJECT: 'the attestation has no private- or secret-key object to judge',
  POLICY_KEY_EXTRACTABLE: 'EXTRACTABLE is true: the key can be wrapped out of the HSM',
  POLICY_KEY_WAS_EXTRACTABLE: 'NEVER_EXTRACTABLE is false: the key was extractable at some point',
  POLICY_KEY_NOT_LOCAL: 'LOCAL is false: the key was not generated inside the HSM',
  POLICY_KEY_NOT_SENSITIVE: 'SENSITIVE is false: the key value can be read in plaintext',
  POLICY_KEY_WAS_NOT_SENSITIVE: 'ALWAYS_SENSITIVE is false: the key was readable at some point',
  POLICY_KCV_UNAVAILABLE: 'the policy needs a KCV comparison but the attestation or the customer gave none',
  POLICY_KCV_MISMATCH: "the attested KCV does not match the customer's key check value",
  // live PKCS#11 checks (attestation/pkcs11/)
  PKCS11_MODULE_UNAVAILABLE: 'the PKCS#11 module cannot be loaded or initialized',
  PKCS11_SLOT_NOT_FOUND: 'no slot with a token matches the given slot id, index or token label',
  PKCS11_LOGIN_FAILED: 'the token refused the user login (C_Login); the CKR code says why',
  PKCS11_KEY_NOT_FOUND: 'no private or secret key object on the token has the given label or id',
  PKCS11_KEY_AMBIGUOUS: 'more than one private or secret key object has the given label or id',
  PKCS11_CALL_FAILED: 'a PKCS#11 call needed for the evidence failed; the CKR code says why',
  PKCS11_POSSESSION_FAILED: 'the signature the token made over a fresh nonce does not verify with the public key',
  PKCS11_PUBLIC_KEY_MISMATCH: "the given public key (SPKI) is not the token's public key object for this private key",
  // live PKCS#11 warnings
  PKCS11_KCV_COMPUTED: 'CKA_CHECK_VALUE is empty; the KCV was computed inside the HSM (AES-ECB of a zero block)',
  PKCS11_KCV_UNAVAILABLE: 'the token gives no check value for this key and none could be computed',
  PKCS11_POSSESSION_UNAVAILABLE: 'possession of the private key could not be proven (no public key, or signing not allowed)',
  // import-format checks (attestation/import-check/): offline checks of BYOK import material
  IMPORT_ALGORITHM_UNSUPPORTED: 'the wrapping algorithm, import method or .byok enc is not one the provider accepts',
  IMPORT_ALGORITHM_KEY_MISMATCH: 'the wrapping algorithm cannot carry the target key (RSA key under plain RSA-OAEP, or material larger than the OAEP capacity)',
  IMPORT_TARGET_UNSUPPORTED: 'the target key spec is not one the provider imports',
  IMPORT_WRAPPING_KEY_MISMATCH: 'the wrapping public key is not the size the parameters declare, or not an RSA key of an allowed size',
  IMPORT_BLOB_LENGTH_MISMATCH: 'the wrapped blob length does not fit the wrapping algorithm, the wrapping key size and the target key',
  IMPORT_OAEP_HASH_MISMATCH: 'the key material was (or was declared to be) wrapped with another OAEP hash than the algorithm requires',
  IMPORT_TOKEN_EXPIRED: 'the import token or import job has expired (or the provider said so)',
  IMPORT_BYOK_HEADER_INVALID: 'the .byok file is not the documented JSON (schema_version, header.kid/alg/enc, base64url ciphertext)',
  IMPORT_KEK_MISMATCH: 'the .byok file names another key exchange key than the one given',
  IMPORT_UNWRAP_FAILED: 'rehearsal: the blob does not unwrap with the given wrapping private key under any OAEP hash, or AES-KWP fails',
  IMPORT_MATERIAL_MISMATCH: 'rehearsal: the unwrapped material is not a key of the target spec',
  IMPORT_PROVIDER_CIPHERTEXT_REJECTED: 'the provider could not decrypt the wrapped material (AWS InvalidCiphertextException)',
  IMPORT_PROVIDER_TOKEN_INVALID: 'the provider rejected the import token (AWS InvalidImportTokenException: invalid or for another key)',
  IMPORT_PROVIDER_KEY_MATERIAL_REJECTED: 'the provider rejected the unwrapped key material (AWS IncorrectKeyMaterialException)',
  IMPORT_PROVIDER_BLOB_REJECTED: 'the provider rejected the BYOK blob (Azure BadParameter / "Invalid BYOK blob")',
  IMPORT_PROVIDER_ERROR_UNKNOWN: 'a provider error that keywatch does not map to a cause',
  IMPORT_CHECK_LIMITED: 'warning: part of the import check could not run (no wrapped blob, or no published length for the target key)',
  // anchors file (edge validation)
  ANCHORS_INVALID: 'the trust-anchor data is malformed or a certificate does not hash to its pinned SPKI',
} as const;

export type AttestationCode = keyof typeof ATTESTATION_CODES;

export const ALL_CODES = Object.keys(ATTESTATION_CODES) as AttestationCode[];

/** One failure or warning, with the stable code and a one-line message for people. */
export interface Issue {
  code: AttestationCode;
  message: string;
  /** Subject DN of the certificate concerned, when there is one. */
  certificate?: string;
}

export function issue(code: AttestationCode, message: string, certificate?: string): Issue {
  return certificate === undefined ? { code, message } : { code, message, certificate };
}
