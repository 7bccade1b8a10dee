import { createRequire } from 'node:module';
import type * as Pkcs11Types from 'pkcs11js';

// pkcs11js is CommonJS whose exports Node's ESM loader cannot list, so named imports come back
// empty. It is loaded on first use: a machine without the native addon built still runs every other
// command, and `attest pkcs11` / `probe` report PKCS11_MODULE_UNAVAILABLE.
let loaded: typeof Pkcs11Types | undefined;
function p11(): typeof Pkcs11Types {
  loaded ??= createRequire(import.meta.url)('pkcs11js') as typeof Pkcs11Types;
  return loaded;
}

/**
 * The one file that talks to pkcs11js (STYLE.md: one file per third-party client). Everything
 * else in keywatch sees typed attribute records, opaque object handles and `Pkcs11CallError`s
 * carrying the CKR_ name the module returned. A PIN is passed in and used for C_Login only; it is
 * never stored on the session or put in an error message.
 *
 * @example
 *   const s = openPkcs11Session({ modulePath: '/usr/lib/softhsm/libsofthsm2.so', slot: { label: 'prod' }, pin });
 *   if (s.ok) { const keys = s.value.findKeys({ label: 'kek-1' }); ...; s.value.close(); }
 */

/** An object handle inside one open session; meaningless outside it. */
export type ObjectHandle = Buffer & { readonly __pkcs11Handle: unique symbol };

/** Which slot to open: by slot id, by position in the list of slots with a token, or by token label. */
export type SlotSelector = { id: string } | { index: number } | { label: string };

export type OpenFailure = { stage: 'module' | 'slot' | 'login'; ckr?: string; message: string };

/** A PKCS#11 call failed; `ckr` is the return code's name (CKR_KEY_HANDLE_INVALID ...). */
export class Pkcs11CallError extends Error {
  readonly ckr: string;
  readonly method: string;
  constructor(method: string, ckr: string, options?: { cause?: unknown }) {
    super(`${method} returned ${ckr}`, options);
    this.name = 'Pkcs11CallError';
    this.method = method;
    this.ckr = ckr;
  }
}

let ckrNames: Map<number, string> | undefined;
function ckrName(code: number): string | undefined {
  if (ckrNames === undefined) {
    ckrNames = new Map();
    for (const [name, value] of Object.entries(p11())) {
      if (name.startsWith('CKR_') && typeof value === 'number' && !ckrNames.has(value)) ckrNames.set(value, name);
    }
  }
  return ckrNames.get(code);
}

/** The CKR_ name of a pkcs11js error, `CKR_0x...` for a vendor code, undefined for a non-PKCS#11 error. */
export function ckrOf(err: unknown): string | undefined {
  if (loaded !== undefined && err instanceof loaded.Pkcs11Error) return ckrName(err.code) ?? `CKR_0x${err.code.toString(16).padStart(8, '0')}`;
  return undefined;
}

function call<T>(method: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const ckr = ckrOf(err);
    if (ckr !== undefined) throw new Pkcs11CallError(method, ckr, { cause: err });
    throw err;
  }
}

export type KeyClass = 'secret' | 'private' | 'public' | 'other';

function keyTypeName(keyType: number): string {
  const p = p11();
  const names: Record<number, string> = { [p.CKK_RSA]: 'rsa', [p.CKK_EC]: 'ec', [p.CKK_AES]: 'aes', [p.CKK_DES3]: 'des3', [p.CKK_GENERIC_SECRET]: 'generic-secret' };
  return names[keyType] ?? `0x${keyType.toString(16)}`;
}

/**
 * The attributes of a key object that bear on residency, as the token reports them. A field is
 * undefined when the token does not have the attribute for this object or will not reveal it.
 * `checkValue` is an empty buffer when the token keeps CKA_CHECK_VALUE empty (SoftHSM2 after C_UnwrapKey).
 */
export interface KeyAttributes {
  class: KeyClass;
  keyType: string;
  label: string;
  /** CKA_ID, hex. */
  id: string;
  valueLen?: number;
  modulusBits?: number;
  /** CKA_EC_PARAMS, DER (the curve OID). */
  ecParams?: Buffer;
  extractable?: boolean;
  neverExtractable?: boolean;
  local?: boolean;
  sensitive?: boolean;
  alwaysSensitive?: boolean;
  wrapWithTrusted?: boolean;
  encrypt?: boolean;
  sign?: boolean;
  checkValue?: Buffer;
  /** CKA_KEY_GEN_MECHANISM as hex, or 'unavailable' (CK_UNAVAILABLE_INFORMATION). */
  keyGenMechanism?: string;
  modulus?: Buffer;
  publicExponent?: Buffer;
  /** CKA_EC_POINT as the token returns it (DER OCTET STRING around the point). */
  ecPoint?: Buffer;
}

/** What to create for the fixed set of key shapes keywatch makes (probes and test tokens). */
export interface SecretKeyTemplate {
  label: string;
  id?: Buffer;
  /** Persist on the token (CKA_TOKEN); session objects vanish with the session. */
  token?: boolean;
  extractable: boolean;
  sensitive: boolean;
  encrypt?: boolean;
  wrap?: boolean;
}

export type KeyPairSpec = { kind: 'rsa'; bits: number } | { kind: 'ec'; curve: 'P-256' | 'P-384' };
export type SignScheme = 'rsa-pkcs1-sha256' | 'ecdsa-raw';

const EC_PARAMS_DER: Record<'P-256' | 'P-384', string> = {
  'P-256': '06082a8648ce3d030107',
  'P-384': '06052b81040022',
};

const AES_BLOCK = 16;
// C_GetAttributeValue reports CK_UNAVAILABLE_INFORMATION as all-ones CK_ULONG (8 bytes on x86-64).
const UNAVAILABLE = 0xffffffffffffffffn;

function ulong(v: Buffer): bigint | undefined {
  if (v.length === 8) return v.readBigUInt64LE(0);
  if (v.length === 4) return BigInt(v.readUInt32LE(0));
  return undefined;
}

function num(v: Buffer | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = ulong(v);
  return n === undefined || n === UNAVAILABLE ? undefined : Number(n);
}

function bool(v: Buffer | undefined): boolean | undefined {
  return v === undefined || v.length !== 1 ? undefined : v[0] !== 0;
}

let shared: { lib: Pkcs11Types.PKCS11; path: string; users: number } | undefined;

function loadModule(modulePath: string): Pkcs11Types.PKCS11 {
  if (shared !== undefined) {
    if (shared.path !== modulePath) throw new Error(`PKCS#11 module ${shared.path} is already loaded; one module per process`);
    shared.users++;
    return shared.lib;
  }
  const { PKCS11 } = p11();
  const lib = new PKCS11();
  lib.load(modulePath);
  try {
    lib.C_Initialize();
  } catch (err) {
    lib.close();
    throw err;
  }
  shared = { lib, path: modulePath, users: 1 };
  return lib;
}

function releaseModule(): void {
  if (shared === undefined) return;
  shared.users--;
  if (shared.users > 0) return;
  const { lib } = shared;
  shared = undefined;
  try {
    lib.C_Finalize();
  } finally {
    lib.close();
  }
}

/**
 * Loads the module (once per process), picks the slot, opens a read-write session and logs in
 * as the user. Never throws on a token problem: the failure names the stage and the CKR code.
 */
export function openPkcs11Session(opts: { modulePath: string; slot: SlotSelector; pin: string }): { ok: true; value: Pkcs11Session } | { ok: false; error: OpenFailure } {
  let lib: Pkcs11Types.PKCS11;
  try {
    lib = loadModule(opts.modulePath);
  } catch (err) {
    const ckr = ckrOf(err);
    return { ok: false, error: { stage: 'module', ...(ckr ? { ckr } : {}), message: `cannot load PKCS#11 module ${opts.modulePath}: ${ckr ?? (err as Error).message}` } };
  }
  let slot: Buffer | undefined;
  let tokenLabel = '';
  try {
    const slots = lib.C_GetSlotList(true);
    if ('id' in opts.slot) {
      const want = BigInt(opts.slot.id);
      slot = slots.find((s) => ulong(s) === want);
    } else if ('index' in opts.slot) {
      slot = slots[opts.slot.index];
    } else {
      const want = opts.slot.label;
      slot = slots.find((s) => lib.C_GetTokenInfo(s).label.trimEnd() === want);
    }
    if (slot !== undefined) tokenLabel = lib.C_GetTokenInfo(slot).label.trimEnd();
  } catch (err) {
    releaseModule();
    return { ok: false, error: { stage: 'slot', ...(ckrOf(err) ? { ckr: ckrOf(err)! } : {}), message: `cannot list slots: ${ckrOf(err) ?? (err as Error).message}` } };
  }
  if (slot === undefined) {
    releaseModule();
    return { ok: false, error: { stage: 'slot', message: `no slot with a token matches ${JSON.stringify(opts.slot)}` } };
  }
  let session: Buffer;
  try {
    session = lib.C_OpenSession(slot, p11().CKF_SERIAL_SESSION | p11().CKF_RW_SESSION);
  } catch (err) {
    releaseModule();
    return { ok: false, error: { stage: 'slot', ...(ckrOf(err) ? { ckr: ckrOf(err)! } : {}), message: `C_OpenSession failed: ${ckrOf(err) ?? (err as Error).message}` } };
  }
  try {
    lib.C_Login(session, p11().CKU_USER, opts.pin);
  } catch (err) {
    const ckr = ckrOf(err);
    if (ckr !== 'CKR_USER_ALREADY_LOGGED_IN') {
      try {
        lib.C_CloseSession(session);
      } finally {
        releaseModule();
      }
      // The message names the code only: the PIN never reaches an error or a log line.
      return { ok: false, error: { stage: 'login', ...(ckr ? { ckr } : {}), message: `C_Login failed: ${ckr ?? 'unknown error'}` } };
    }
  }
  return { ok: true, value: new Pkcs11Session(lib, session, ulong(slot)?.toString() ?? '', tokenLabel) };
}

/** An open, logged-in session. Call `close()` when done. */
export class Pkcs11Session {
  #closed = false;
  constructor(
    private readonly lib: Pkcs11Types.PKCS11,
    private readonly session: Buffer,
    readonly slotId: string,
    readonly tokenLabel: string,
  ) {}

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.lib.C_Logout(this.session);
    } catch {
      // already logged out (another session of the process logged out the token)
    }
    try {
      this.lib.C_CloseSession(this.session);
    } finally {
      releaseModule();
    }
  }

  /** A handle no object has (CK_INVALID_HANDLE): operations on it make the module report its own CKR code. */
  static readonly INVALID_HANDLE = Buffer.alloc(8) as ObjectHandle;

  /** Key objects (secret, private, public) whose label and/or id match. */
  findKeys(query: { label?: string; id?: Buffer; class?: Exclude<KeyClass, 'other'> }): ObjectHandle[] {
    const template: Pkcs11Types.Template = [];
    if (query.label !== undefined) template.push({ type: p11().CKA_LABEL, value: query.label });
    if (query.id !== undefined) template.push({ type: p11().CKA_ID, value: query.id });
    if (query.class !== undefined) template.push({ type: p11().CKA_CLASS, value: classNumber(query.class) });
    call('C_FindObjectsInit', () => this.lib.C_FindObjectsInit(this.session, template));
    const found: Buffer[] = [];
    try {
      for (;;) {
        const batch = call('C_FindObjects', () => this.lib.C_FindObjects(this.session, 64));
        if (batch.length === 0) break;
        found.push(...batch);
      }
    } finally {
      call('C_FindObjectsFinal', () => this.lib.C_FindObjectsFinal(this.session));
    }
    const keyClasses = new Set([p11().CKO_SECRET_KEY, p11().CKO_PRIVATE_KEY, p11().CKO_PUBLIC_KEY]);
    return found.filter((h) => keyClasses.has(num(this.attr(h, p11().CKA_CLASS)) ?? -1)) as ObjectHandle[];
  }

  /** One attribute, or undefined when the token has none for this object or refuses to reveal it. */
  private attr(handle: Buffer, type: number): Buffer | undefined {
    try {
      const [a] = this.lib.C_GetAttributeValue(this.session, handle, [{ type }]);
      return a?.value;
    } catch (err) {
      // CKR_ATTRIBUTE_TYPE_INVALID / _SENSITIVE: the attribute does not exist for this object or is secret.
      if (ckrOf(err) !== undefined) return undefined;
      throw err;
    }
  }

  /** Reads the residency-relevant attributes one by one (a single multi-attribute read fails whole on one invalid type). */
  readKeyAttributes(handle: ObjectHandle): KeyAttributes {
    const a = (t: number) => this.attr(handle, t);
    const cls = num(a(p11().CKA_CLASS));
    const keyType = num(a(p11().CKA_KEY_TYPE));
    const gen = a(p11().CKA_KEY_GEN_MECHANISM);
    const genNum = gen === undefined ? undefined : ulong(gen);
    const out: KeyAttributes = {
      class: cls === p11().CKO_SECRET_KEY ? 'secret' : cls === p11().CKO_PRIVATE_KEY ? 'private' : cls === p11().CKO_PUBLIC_KEY ? 'public' : 'other',
      keyType: keyType === undefined ? 'unknown' : keyTypeName(keyType),
      label: a(p11().CKA_LABEL)?.toString('utf8') ?? '',
      id: a(p11().CKA_ID)?.toString('hex') ?? '',
    };
    const set = <K extends keyof KeyAttributes>(k: K, v: KeyAttributes[K] | undefined) => {
      if (v !== undefined) out[k] = v;
    };
    set('valueLen', num(a(p11().CKA_VALUE_LEN)));
    set('modulusBits', num(a(p11().CKA_MODULUS_BITS)));
    set('ecParams', a(p11().CKA_EC_PARAMS));
    set('extractable', bool(a(p11().CKA_EXTRACTABLE)));
    set('neverExtractable', bool(a(p11().CKA_NEVER_EXTRACTABLE)));
    set('local', bool(a(p11().CKA_LOCAL)));
    set('sensitive', bool(a(p11().CKA_SENSITIVE)));
    set('alwaysSensitive', bool(a(p11().CKA_ALWAYS_SENSITIVE)));
    set('wrapWithTrusted', bool(a(p11().CKA_WRAP_WITH_TRUSTED)));
    set('encrypt', bool(a(p11().CKA_ENCRYPT)));
    set('sign', bool(a(p11().CKA_SIGN)));
    set('checkValue', a(p11().CKA_CHECK_VALUE));
    set('keyGenMechanism', genNum === undefined ? undefined : genNum === UNAVAILABLE ? 'unavailable' : `0x${genNum.toString(16)}`);
    set('modulus', a(p11().CKA_MODULUS));
    // SoftHSM2 keeps CKA_MODULUS_BITS on the public object only; the private key's modulus gives the size.
    if (out.modulusBits === undefined && out.modulus !== undefined) {
      let i = 0;
      while (i < out.modulus.length && out.modulus[i] === 0) i++;
      if (i < out.modulus.length) out.modulusBits = (out.modulus.length - i) * 8 - Math.clz32(out.modulus[i]!) + 24;
    }
    set('publicExponent', a(p11().CKA_PUBLIC_EXPONENT));
    set('ecPoint', a(p11().CKA_EC_POINT));
    return out;
  }

  /** AES-ECB of one zero block inside the token: the PKCS#11 KCV convention (first bytes of the result). */
  aesEcbZeroBlock(key: ObjectHandle): Buffer {
    call('C_EncryptInit', () => this.lib.C_EncryptInit(this.session, { mechanism: p11().CKM_AES_ECB }, key));
    return call('C_Encrypt', () => this.lib.C_Encrypt(this.session, Buffer.alloc(AES_BLOCK), Buffer.alloc(AES_BLOCK)));
  }

  /** Signs `data` in the token: RSA PKCS#1 v1.5 with SHA-256, or raw ECDSA (r||s) over a caller-made digest. */
  sign(key: ObjectHandle, scheme: SignScheme, data: Buffer): Buffer {
    const mechanism = scheme === 'rsa-pkcs1-sha256' ? p11().CKM_SHA256_RSA_PKCS : p11().CKM_ECDSA;
    call('C_SignInit', () => this.lib.C_SignInit(this.session, { mechanism }, key));
    return call('C_Sign', () => this.lib.C_Sign(this.session, data, Buffer.alloc(1024)));
  }

  /** AES-CBC with PKCS#7 padding (CKM_AES_CBC_PAD). */
  encryptCbcPad(key: ObjectHandle, iv: Buffer, plaintext: Buffer): Buffer {
    call('C_EncryptInit', () => this.lib.C_EncryptInit(this.session, { mechanism: p11().CKM_AES_CBC_PAD, parameter: iv }, key));
    return call('C_Encrypt', () => this.lib.C_Encrypt(this.session, plaintext, Buffer.alloc(plaintext.length + AES_BLOCK)));
  }

  decryptCbcPad(key: ObjectHandle, iv: Buffer, ciphertext: Buffer): Buffer {
    call('C_DecryptInit', () => this.lib.C_DecryptInit(this.session, { mechanism: p11().CKM_AES_CBC_PAD, parameter: iv }, key));
    return call('C_Decrypt', () => this.lib.C_Decrypt(this.session, ciphertext, Buffer.alloc(ciphertext.length)));
  }

  /** AES key wrap with padding (RFC 5649, CKM_AES_KEY_WRAP_PAD) of `key` under `wrappingKey`. */
  wrapKey(wrappingKey: ObjectHandle, key: ObjectHandle): Buffer {
    return call('C_WrapKey', () => this.lib.C_WrapKey(this.session, { mechanism: p11().CKM_AES_KEY_WRAP_PAD }, wrappingKey, key, Buffer.alloc(1024)));
  }

  /** Unwraps an RFC 5649 blob into a new AES key object with the given template. */
  unwrapAesKey(unwrappingKey: ObjectHandle, wrapped: Buffer, template: SecretKeyTemplate): ObjectHandle {
    return call('C_UnwrapKey', () =>
      this.lib.C_UnwrapKey(this.session, { mechanism: p11().CKM_AES_KEY_WRAP_PAD }, unwrappingKey, wrapped, [
        { type: p11().CKA_CLASS, value: p11().CKO_SECRET_KEY },
        { type: p11().CKA_KEY_TYPE, value: p11().CKK_AES },
        ...secretTemplate(template),
      ]),
    ) as ObjectHandle;
  }

  /** C_GenerateKey of an AES key of `bytes` length. */
  generateAesKey(bytes: 16 | 24 | 32, template: SecretKeyTemplate): ObjectHandle {
    return call('C_GenerateKey', () =>
      this.lib.C_GenerateKey(this.session, { mechanism: p11().CKM_AES_KEY_GEN }, [{ type: p11().CKA_VALUE_LEN, value: bytes }, ...secretTemplate(template)]),
    ) as ObjectHandle;
  }

  /** C_CreateObject of an AES key from its value: an imported key (CKA_LOCAL false). */
  importAesKey(value: Buffer, template: SecretKeyTemplate): ObjectHandle {
    return call('C_CreateObject', () =>
      this.lib.C_CreateObject(this.session, [
        { type: p11().CKA_CLASS, value: p11().CKO_SECRET_KEY },
        { type: p11().CKA_KEY_TYPE, value: p11().CKK_AES },
        { type: p11().CKA_VALUE, value },
        ...secretTemplate(template),
      ]),
    ) as ObjectHandle;
  }

  /** Lowers EXTRACTABLE to false and raises SENSITIVE to true (the only directions PKCS#11 allows). */
  lockDown(key: ObjectHandle): void {
    call('C_SetAttributeValue', () =>
      this.lib.C_SetAttributeValue(this.session, key, [
        { type: p11().CKA_EXTRACTABLE, value: false },
        { type: p11().CKA_SENSITIVE, value: true },
      ]),
    );
  }

  /** Generates a key pair on the token with a non-extractable, sensitive private key. */
  generateKeyPair(spec: KeyPairSpec, label: string, id: Buffer): { publicKey: ObjectHandle; privateKey: ObjectHandle } {
    const common = [
      { type: p11().CKA_TOKEN, value: true },
      { type: p11().CKA_LABEL, value: label },
      { type: p11().CKA_ID, value: id },
    ];
    const pub: Pkcs11Types.Template =
      spec.kind === 'rsa'
        ? [...common, { type: p11().CKA_VERIFY, value: true }, { type: p11().CKA_MODULUS_BITS, value: spec.bits }, { type: p11().CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) }]
        : [...common, { type: p11().CKA_VERIFY, value: true }, { type: p11().CKA_EC_PARAMS, value: Buffer.from(EC_PARAMS_DER[spec.curve], 'hex') }];
    const priv: Pkcs11Types.Template = [
      ...common,
      { type: p11().CKA_PRIVATE, value: true },
      { type: p11().CKA_SIGN, value: true },
      { type: p11().CKA_SENSITIVE, value: true },
      { type: p11().CKA_EXTRACTABLE, value: false },
    ];
    const mechanism = spec.kind === 'rsa' ? p11().CKM_RSA_PKCS_KEY_PAIR_GEN : p11().CKM_EC_KEY_PAIR_GEN;
    const pair = call('C_GenerateKeyPair', () => this.lib.C_GenerateKeyPair(this.session, { mechanism }, pub, priv));
    return { publicKey: pair.publicKey as ObjectHandle, privateKey: pair.privateKey as ObjectHandle };
  }

  destroy(handle: ObjectHandle): void {
    call('C_DestroyObject', () => this.lib.C_DestroyObject(this.session, handle));
  }
}

function classNumber(c: Exclude<KeyClass, 'other'>): number {
  return c === 'secret' ? p11().CKO_SECRET_KEY : c === 'private' ? p11().CKO_PRIVATE_KEY : p11().CKO_PUBLIC_KEY;
}

function secretTemplate(t: SecretKeyTemplate): Pkcs11Types.Template {
  return [
    { type: p11().CKA_TOKEN, value: t.token ?? false },
    { type: p11().CKA_LABEL, value: t.label },
    ...(t.id !== undefined ? [{ type: p11().CKA_ID, value: t.id }] : []),
    { type: p11().CKA_PRIVATE, value: true },
    { type: p11().CKA_EXTRACTABLE, value: t.extractable },
    { type: p11().CKA_SENSITIVE, value: t.sensitive },
    { type: p11().CKA_ENCRYPT, value: t.encrypt ?? true },
    { type: p11().CKA_DECRYPT, value: t.encrypt ?? true },
    { type: p11().CKA_WRAP, value: t.wrap ?? false },
    { type: p11().CKA_UNWRAP, value: t.wrap ?? false },
  ];
}
