/**
 * PKCS#11 key store (pkcs11js): Ed25519 keys are generated inside a token (CKM_EC_EDWARDS_KEY_PAIR_GEN)
 * as token objects whose private half is sensitive and non-extractable; signatures are made by the
 * token with CKM_EDDSA. Tested against SoftHSM2 2.6.
 *
 * - The reference is RFC 7512 style, `pkcs11:id=%xx%xx…` (percent-encoded CKA_ID; the CKA_ID is the
 *   32 bytes of the key id). It names no token and carries no PIN.
 * - One loaded library per module path per process, initialised with CKF_OS_LOCKING_OK (concurrent
 *   calls on several sessions need it) and finalised when its last store closes.
 * - A store owns a small pool of read/write sessions on its token, logged in once. A sign takes a
 *   free session, runs C_SignInit + C_Sign (asynchronously, on the libuv pool) and gives it back.
 * - Login state is per application and token in PKCS#11: when a second store in this process opens
 *   the same token, its PIN is compared with the one the token was logged in with.
 * - pkcs11js errors become LedgerError('key_store_unavailable' | 'key_not_found') with the original
 *   error as cause; no message contains the PIN.
 */
import { createHash, timingSafeEqual, verify as nodeVerify } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { inspect } from 'node:util';
import pkcs11js from 'pkcs11js';
import type { PKCS11, Template } from 'pkcs11js';
import { publicKeyFromSpki, spkiFromRaw, keyIdOf } from '../../crypto/ed25519.ts';
import { LedgerError } from '../../errors.ts';
import { RedactedKeyHandle } from './redacted-handle.ts';
import type { GeneratedKey, KeyStore, SigningKeyHandle } from '../key-store.ts';

type Handle = Buffer;

/** PKCS#11 3.0 constants pkcs11js does not name. */
export const CKK_EC_EDWARDS = 0x40;
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;
const CKR_CURVE_NOT_SUPPORTED = 0x140;
const CKF_OS_LOCKING_OK = 0x2;

/** CKA_EC_PARAMS for Ed25519: the OID id-Ed25519 (RFC 8410), or the printable string "edwards25519". */
export const ED25519_EC_PARAMS_OID = Buffer.from('06032b6570', 'hex');
export const ED25519_EC_PARAMS_NAME = Buffer.from('130c656477617264733235353139', 'hex');

export interface Pkcs11KeyStoreOptions {
  /** Path of the PKCS#11 module (.so). */
  readonly module: string;
  /** Label of the token to use. */
  readonly tokenLabel?: string;
  /** Slot ID (CK_SLOT_ID, as `pkcs11-tool --slot` takes it) of the token to use. */
  readonly slot?: number;
  /** User PIN. Never logged, never in errors. */
  readonly pin: string;
  /** Sessions in the signing pool (default 4). */
  readonly sessions?: number;
}

const DEFAULT_SESSIONS = 4;
const CLOSE_DRAIN_MS = 5_000;
const EMPTY = Buffer.alloc(1).subarray(0, 0);
let keptAlive: unknown;
const keepAlive = (...values: unknown[]): void => {
  keptAlive = values;
  keptAlive = undefined;
};
const REF = /^pkcs11:id=((?:%[0-9a-fA-F]{2}){1,64})$/;

export const pkcs11KeyRef = (id: Uint8Array): string => `pkcs11:id=${[...id].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`;

/** The CKA_ID named by a `pkcs11:id=%xx…` reference, or undefined when the reference is not one. */
export function parsePkcs11KeyRef(ref: unknown): Buffer | undefined {
  if (typeof ref !== 'string') return undefined;
  const m = REF.exec(ref);
  return m ? Buffer.from(m[1]!.replace(/%/g, ''), 'hex') : undefined;
}

// ---------------------------------------------------------------------------------------------
// errors

const CKR_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(pkcs11js as unknown as Record<string, unknown>)
    .filter(([k, v]) => k.startsWith('CKR_') && typeof v === 'number')
    .map(([k, v]) => [v as number, k]),
);

interface P11ErrorInfo {
  readonly name: string;
  readonly code: number | undefined;
  readonly method: string | undefined;
}

function p11Info(e: unknown): P11ErrorInfo {
  const x = e as { code?: unknown; method?: unknown; message?: unknown } | undefined;
  const code = typeof x?.code === 'number' && x.code !== 0 ? x.code : undefined;
  const msg = typeof x?.message === 'string' ? x.message : '';
  const named = /\b(CKR_[A-Z0-9_]+)/.exec(msg)?.[1];
  const name = named ?? (code !== undefined ? (CKR_NAMES.get(code) ?? `CKR_0x${code.toString(16)}`) : 'error');
  const method = typeof x?.method === 'string' && x.method ? x.method : undefined;
  return { name, code: code ?? (named ? (pkcs11js as unknown as Record<string, number>)[named] : undefined), method };
}

const scrub = (text: string, pin: string | undefined): string => (pin && pin.length >= 4 ? text.split(pin).join('***') : text);

function p11Error(what: string, e: unknown, pin: string | undefined, details?: Record<string, unknown>): LedgerError {
  if (e instanceof LedgerError) return e;
  const info = p11Info(e);
  const code = info.code === pkcs11js.CKR_OBJECT_HANDLE_INVALID || info.code === pkcs11js.CKR_KEY_HANDLE_INVALID ? 'key_not_found' : 'key_store_unavailable';
  const msg = scrub(`${what}: ${info.name}${info.method ? ` in ${info.method}` : ''}`, pin);
  return new LedgerError(code, msg, { ...details, pkcs11: info.name }, { cause: e });
}

// ---------------------------------------------------------------------------------------------
// one loaded library per module path per process

interface LoadedModule {
  readonly path: string;
  readonly p11: PKCS11;
  /** Open stores using the library; C_Initialize at 0 → 1, C_Finalize at 1 → 0. */
  users: number;
  /** We called C_Initialize (false when someone else in the process had). */
  ownsInit: boolean;
  /** Login state per slot: how many stores rely on it, and a digest of the PIN it was made with. */
  readonly logins: Map<string, { count: number; pinDigest: Buffer }>;
}

const modules = new Map<string, LoadedModule>();
let lifecycle: Promise<unknown> = Promise.resolve();

/** Runs open/close steps one at a time, process-wide. */
function serialized<T>(fn: () => T | Promise<T>): Promise<T> {
  const run = lifecycle.then(fn, fn);
  lifecycle = run.catch(() => undefined);
  return run;
}

const pinDigest = (pin: string): Buffer => createHash('sha256').update('sigledger/pkcs11-pin/').update(pin, 'utf8').digest();

function acquireModule(path: string): LoadedModule {
  let real: string;
  try {
    real = realpathSync(path);
  } catch (e) {
    throw new LedgerError('key_store_unavailable', `PKCS#11 module ${JSON.stringify(path)} not found (${(e as NodeJS.ErrnoException).code ?? 'error'})`, undefined, { cause: e });
  }
  let mod = modules.get(real);
  if (!mod) {
    const p11 = new pkcs11js.PKCS11();
    try {
      p11.load(real);
    } catch (e) {
      throw new LedgerError('key_store_unavailable', `cannot load PKCS#11 module ${JSON.stringify(path)}: ${p11Info(e).name === 'error' ? String((e as Error).message ?? e).slice(0, 200) : p11Info(e).name}`, undefined, { cause: e });
    }
    mod = { path: real, p11, users: 0, ownsInit: false, logins: new Map() };
    modules.set(real, mod);
  }
  if (mod.users === 0) {
    try {
      mod.p11.C_Initialize({ flags: CKF_OS_LOCKING_OK });
      mod.ownsInit = true;
    } catch (e) {
      if (p11Info(e).code !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw p11Error(`cannot initialise PKCS#11 module ${JSON.stringify(path)}`, e, undefined);
      mod.ownsInit = false;
    }
  }
  mod.users++;
  return mod;
}

function releaseModule(mod: LoadedModule): void {
  mod.users--;
  if (mod.users > 0) return;
  mod.logins.clear();
  if (mod.ownsInit) {
    try {
      mod.p11.C_Finalize();
    } catch {
      /* already finalised */
    }
    mod.ownsInit = false;
  }
}

const handleNumber = (h: Handle): bigint => (h.length >= 8 ? h.readBigUInt64LE(0) : BigInt(h.readUInt32LE(0)));
const trimPadded = (s: string): string => s.replace(/[\s\0]+$/, '');

function decodeEcPoint(point: Buffer): Buffer {
  // DER OCTET STRING 04 20 <32 bytes> (what PKCS#11 specifies), or the raw 32 bytes (some tokens).
  if (point.length === 34 && point[0] === 0x04 && point[1] === 0x20) return point.subarray(2);
  if (point.length === 32) return point;
  throw new Error(`unexpected CKA_EC_POINT encoding (${point.length} bytes)`);
}

// ---------------------------------------------------------------------------------------------
// the store

class Pkcs11SigningKey extends RedactedKeyHandle implements SigningKeyHandle {
  readonly algorithm = 'ed25519' as const;
  readonly backend = 'pkcs11' as const;
  readonly #store: Pkcs11KeyStore;
  readonly #object: Handle;

  constructor(
    readonly keyId: string,
    readonly ref: string,
    readonly publicKeySpki: Buffer,
    object: Handle,
    store: Pkcs11KeyStore,
  ) {
    super();
    this.#store = store;
    this.#object = object;
    Object.freeze(this);
  }

  sign(message: Uint8Array): Promise<Uint8Array> {
    return this.#store.signWith(this.#object, this.keyId, message);
  }

}

export class Pkcs11KeyStore implements KeyStore {
  readonly backend = 'pkcs11' as const;
  readonly tokenLabel: string;
  readonly slotId: bigint;
  readonly #mod: LoadedModule;
  readonly #p11: PKCS11;
  readonly #slot: Handle;
  readonly #slotKey: string;
  readonly #sessions: Handle[];
  readonly #free: Handle[];
  readonly #waiters: ((s: Handle | undefined) => void)[] = [];
  readonly #handles = new Map<string, Promise<Pkcs11SigningKey>>();
  #ecParams: Buffer = ED25519_EC_PARAMS_OID;
  #closed = false;
  #closing: Promise<void> | undefined;

  /** Use openPkcs11KeyStore(). */
  private constructor(mod: LoadedModule, slot: Handle, tokenLabel: string, sessions: Handle[]) {
    this.#mod = mod;
    this.#p11 = mod.p11;
    this.#slot = slot;
    this.slotId = handleNumber(slot);
    this.#slotKey = this.slotId.toString();
    this.tokenLabel = tokenLabel;
    this.#sessions = sessions;
    this.#free = [...sessions];
  }

  /** @internal */
  static async open(options: Pkcs11KeyStoreOptions): Promise<Pkcs11KeyStore> {
    const size = options.sessions ?? DEFAULT_SESSIONS;
    if (!Number.isInteger(size) || size < 1 || size > 64) throw new LedgerError('config_invalid', 'the PKCS#11 session pool size must be an integer from 1 to 64');
    if (typeof options.pin !== 'string' || options.pin.length === 0) throw new LedgerError('config_invalid', 'the PKCS#11 key store needs a user PIN');
    if (typeof options.module !== 'string' || options.module.length === 0) throw new LedgerError('config_invalid', 'the PKCS#11 key store needs a module path');
    if (options.slot !== undefined && !(Number.isSafeInteger(options.slot) && options.slot >= 0)) throw new LedgerError('config_invalid', 'a PKCS#11 slot ID is a non-negative integer');
    const pin = options.pin;

    return serialized(() => {
      const mod = acquireModule(options.module);
      const p11 = mod.p11;
      const sessions: Handle[] = [];
      let loggedIn = false;
      let slotKey = '';
      try {
        const { slot, label } = Pkcs11KeyStore.#findSlot(p11, options, pin);
        slotKey = handleNumber(slot).toString();
        for (let i = 0; i < size; i++) sessions.push(p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION));

        const digest = pinDigest(pin);
        const login = mod.logins.get(slotKey);
        if (login) {
          if (!timingSafeEqual(login.pinDigest, digest)) {
            throw new LedgerError('key_store_unavailable', `PKCS#11 login to token "${label}" failed: CKR_PIN_INCORRECT (differs from the PIN of the session already open in this process)`);
          }
          login.count++;
        } else {
          try {
            p11.C_Login(sessions[0]!, pkcs11js.CKU_USER, pin);
          } catch (e) {
            if (p11Info(e).code !== pkcs11js.CKR_USER_ALREADY_LOGGED_IN) throw p11Error(`PKCS#11 login to token "${label}" failed`, e, pin);
          }
          mod.logins.set(slotKey, { count: 1, pinDigest: digest });
        }
        loggedIn = true;
        return new Pkcs11KeyStore(mod, slot, label, sessions);
      } catch (e) {
        if (loggedIn) Pkcs11KeyStore.#dropLogin(mod, slotKey, sessions[0]);
        for (const s of sessions) {
          try {
            p11.C_CloseSession(s);
          } catch {
            /* ignore */
          }
        }
        releaseModule(mod);
        throw p11Error('cannot open the PKCS#11 key store', e, pin);
      }
    });
  }

  static #findSlot(p11: PKCS11, options: Pkcs11KeyStoreOptions, pin: string): { slot: Handle; label: string } {
    let slots: Handle[];
    try {
      slots = p11.C_GetSlotList(true);
    } catch (e) {
      throw p11Error('cannot list PKCS#11 slots', e, pin);
    }
    const tokens: { slot: Handle; label: string; id: bigint; initialized: boolean }[] = [];
    for (const slot of slots) {
      try {
        const info = p11.C_GetTokenInfo(slot);
        tokens.push({ slot, label: trimPadded(info.label), id: handleNumber(slot), initialized: (info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0 });
      } catch {
        /* a slot whose token went away */
      }
    }
    let candidates = tokens.filter((t) => t.initialized);
    if (options.slot !== undefined) candidates = candidates.filter((t) => t.id === BigInt(options.slot!));
    if (options.tokenLabel !== undefined) candidates = candidates.filter((t) => t.label === options.tokenLabel);
    const wanted = [options.tokenLabel !== undefined ? `label "${options.tokenLabel}"` : '', options.slot !== undefined ? `slot ${options.slot}` : ''].filter(Boolean).join(' and ');
    if (candidates.length === 0) {
      throw new LedgerError('key_store_unavailable', `no initialised PKCS#11 token${wanted ? ` with ${wanted}` : ''} (found ${tokens.length === 0 ? 'none' : tokens.map((t) => `"${t.label}" in slot ${t.id}`).join(', ')})`);
    }
    if (candidates.length > 1) {
      throw new LedgerError('config_invalid', `several PKCS#11 tokens match${wanted ? ` ${wanted}` : ''}: ${candidates.map((t) => `"${t.label}" in slot ${t.id}`).join(', ')}; set the token label or slot`);
    }
    return { slot: candidates[0]!.slot, label: candidates[0]!.label };
  }

  static #dropLogin(mod: LoadedModule, slotKey: string, session: Handle | undefined): void {
    const login = mod.logins.get(slotKey);
    if (!login) return;
    login.count--;
    if (login.count > 0) return;
    mod.logins.delete(slotKey);
    if (session) {
      try {
        mod.p11.C_Logout(session);
      } catch {
        /* not logged in any more */
      }
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  #assertOpen(): void {
    if (this.#closed) throw new LedgerError('key_store_unavailable', 'PKCS#11 key store is closed');
  }

  // --- session pool ---------------------------------------------------------------------------

  #acquire(): Promise<Handle> | Handle {
    const s = this.#free.pop();
    if (s) return s;
    return new Promise<Handle>((resolve, reject) => {
      this.#waiters.push((session) => (session ? resolve(session) : reject(new LedgerError('key_store_unavailable', 'PKCS#11 key store is closed'))));
    });
  }

  #release(s: Handle): void {
    const next = this.#waiters.shift();
    if (next && !this.#closed) next(s);
    else this.#free.push(s);
  }

  async #withSession<T>(fn: (s: Handle) => T | Promise<T>): Promise<T> {
    this.#assertOpen();
    const s = await this.#acquire();
    let ok = false;
    try {
      const result = await fn(s);
      ok = true;
      return result;
    } finally {
      if (ok) this.#release(s);
      else {
        // The session may be left mid-operation: swap it for a fresh one.
        const next = this.#replace(s);
        if (next) this.#release(next);
      }
    }
  }

  /**
   * Replaces a session whose state is unknown after a failed call (SoftHSM, for one, leaves the
   * signing operation active after CKR_ARGUMENTS_BAD). The new session is opened before the old one
   * is closed: closing an application's last session on a token logs it out.
   */
  #replace(s: Handle): Handle | undefined {
    const i = this.#sessions.indexOf(s);
    let next: Handle | undefined;
    try {
      next = this.#p11.C_OpenSession(this.#slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    } catch {
      next = undefined;
    }
    try {
      this.#p11.C_CloseSession(s);
    } catch {
      /* already gone */
    }
    if (next && i >= 0) this.#sessions[i] = next;
    else if (i >= 0) this.#sessions.splice(i, 1);
    if (this.#sessions.length === 0) for (const w of this.#waiters.splice(0)) w(undefined);
    return next;
  }

  /** @internal Used by handles: C_SignInit + C_Sign (async) with CKM_EDDSA on a pooled session. */
  async signWith(object: Handle, keyId: string, message: Uint8Array): Promise<Uint8Array> {
    if (this.#closed) throw new LedgerError('key_store_unavailable', `PKCS#11 key store is closed; cannot sign with key ${keyId}`);
    // pkcs11js passes NULL for an empty buffer (CKR_ARGUMENTS_BAD); a zero-length view of a real one works.
    const data = message.length === 0 ? EMPTY : Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
    const out = Buffer.allocUnsafe(64);
    const s = this.#free.pop() ?? (await this.#acquire());
    let ok = false;
    try {
      this.#p11.C_SignInit(s, { mechanism: CKM_EDDSA }, object);
      const sig = await this.#p11.C_SignAsync(s, data, out);
      ok = true;
      return sig;
    } catch (e) {
      throw p11Error(`signing with key ${keyId} failed`, e, undefined, { keyId });
    } finally {
      // The native worker holds raw pointers to `data` and `out`: keep both reachable until it is done.
      keepAlive(data, out);
      if (ok) this.#release(s);
      else {
        const next = this.#replace(s);
        if (next) this.#release(next);
      }
    }
  }

  // --- KeyStore -------------------------------------------------------------------------------

  async generate(label: string): Promise<GeneratedKey> {
    if (typeof label !== 'string' || Buffer.byteLength(label) > 256) throw new LedgerError('invalid_request', 'a key label is a string of at most 256 bytes');
    // Synchronous: the async pkcs11js variant keeps raw pointers into the JS templates.
    return this.#withSession((s) => {
      const p11 = this.#p11;
      const tempId = Buffer.from(`sigledger-tmp-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
      const publicTemplate = (params: Buffer): Template => [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: false },
        { type: pkcs11js.CKA_VERIFY, value: true },
        { type: pkcs11js.CKA_EC_PARAMS, value: params },
        { type: pkcs11js.CKA_LABEL, value: label },
        { type: pkcs11js.CKA_ID, value: tempId },
      ];
      const privateTemplate: Template = [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_DERIVE, value: false },
        { type: pkcs11js.CKA_LABEL, value: label },
        { type: pkcs11js.CKA_ID, value: tempId },
      ];
      let pair: { publicKey: Handle; privateKey: Handle };
      try {
        try {
          pair = p11.C_GenerateKeyPair(s, { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN }, publicTemplate(this.#ecParams), privateTemplate);
        } catch (e) {
          // Tokens differ in which Ed25519 CKA_EC_PARAMS they accept: try the other encoding once.
          const code = p11Info(e).code;
          if (code !== pkcs11js.CKR_ATTRIBUTE_VALUE_INVALID && code !== pkcs11js.CKR_DOMAIN_PARAMS_INVALID && code !== CKR_CURVE_NOT_SUPPORTED && code !== pkcs11js.CKR_TEMPLATE_INCONSISTENT) throw e;
          const other = this.#ecParams === ED25519_EC_PARAMS_OID ? ED25519_EC_PARAMS_NAME : ED25519_EC_PARAMS_OID;
          pair = p11.C_GenerateKeyPair(s, { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN }, publicTemplate(other), privateTemplate);
          this.#ecParams = other;
        }
      } catch (e) {
        throw p11Error('PKCS#11 Ed25519 key generation failed', e, undefined);
      }
      try {
        const [pointAttr] = p11.C_GetAttributeValue(s, pair.publicKey, [{ type: pkcs11js.CKA_EC_POINT }]);
        const publicKeySpki = spkiFromRaw(decodeEcPoint(pointAttr!.value));
        const keyId = keyIdOf(publicKeySpki);
        // CKA_ID := the 32 key id bytes, so the key can be found by its id with any PKCS#11 tool.
        const id = Buffer.from(keyId, 'hex');
        p11.C_SetAttributeValue(s, pair.privateKey, [{ type: pkcs11js.CKA_ID, value: id }]);
        p11.C_SetAttributeValue(s, pair.publicKey, [{ type: pkcs11js.CKA_ID, value: id }]);
        return { keyId, publicKeySpki, ref: pkcs11KeyRef(id) };
      } catch (e) {
        for (const o of [pair.privateKey, pair.publicKey]) {
          try {
            p11.C_DestroyObject(s, o);
          } catch {
            /* best effort */
          }
        }
        throw p11Error('PKCS#11 Ed25519 key generation failed while reading the public key', e, undefined);
      }
    });
  }

  load(ref: string): Promise<SigningKeyHandle> {
    if (this.#closed) return Promise.reject(new LedgerError('key_store_unavailable', 'PKCS#11 key store is closed'));
    const id = parsePkcs11KeyRef(ref);
    if (!id) {
      const shown = typeof ref === 'string' ? JSON.stringify(ref.length > 80 ? `${ref.slice(0, 80)}…` : ref) : typeof ref;
      return Promise.reject(new LedgerError('key_not_found', `key reference ${shown} is not a PKCS#11 key reference (pkcs11:id=%xx…)`));
    }
    const canonical = pkcs11KeyRef(id);
    let handle = this.#handles.get(canonical);
    if (!handle) {
      handle = this.#withSession((s) => this.#open(s, id, canonical));
      this.#handles.set(canonical, handle);
      handle.catch(() => {
        if (this.#handles.get(canonical) === handle) this.#handles.delete(canonical);
      });
    }
    return handle;
  }

  #find(s: Handle, template: Template): Handle[] {
    const p11 = this.#p11;
    p11.C_FindObjectsInit(s, template);
    try {
      return p11.C_FindObjects(s, 4);
    } finally {
      p11.C_FindObjectsFinal(s);
    }
  }

  async #open(s: Handle, id: Buffer, ref: string): Promise<Pkcs11SigningKey> {
    const p11 = this.#p11;
    const idHex = id.toString('hex');
    try {
      const keyTemplate = (cls: number): Template => [
        { type: pkcs11js.CKA_CLASS, value: cls },
        { type: pkcs11js.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
        { type: pkcs11js.CKA_ID, value: id },
      ];
      const privs = this.#find(s, keyTemplate(pkcs11js.CKO_PRIVATE_KEY));
      if (privs.length === 0) throw new LedgerError('key_not_found', `no Ed25519 private key with CKA_ID ${idHex} on token "${this.tokenLabel}"`, { ref });
      if (privs.length > 1) throw new LedgerError('key_store_unavailable', `several private keys have CKA_ID ${idHex} on token "${this.tokenLabel}"`, { ref });
      const pubs = this.#find(s, keyTemplate(pkcs11js.CKO_PUBLIC_KEY));
      if (pubs.length !== 1) throw new LedgerError('key_store_unavailable', `expected one Ed25519 public key with CKA_ID ${idHex} on token "${this.tokenLabel}", found ${pubs.length}`, { ref });
      const privateKey = privs[0]!;
      const [pointAttr] = p11.C_GetAttributeValue(s, pubs[0]!, [{ type: pkcs11js.CKA_EC_POINT }]);
      const publicKeySpki = spkiFromRaw(decodeEcPoint(pointAttr!.value));
      const keyId = keyIdOf(publicKeySpki);
      // Prove the private key belongs to the public key before handing out a handle.
      const probe = Buffer.from(`sigledger/pkcs11/pair-check/${keyId}`);
      p11.C_SignInit(s, { mechanism: CKM_EDDSA }, privateKey);
      const sig = await p11.C_SignAsync(s, probe, Buffer.allocUnsafe(64));
      if (!nodeVerify(null, probe, publicKeyFromSpki(publicKeySpki), sig)) {
        throw new LedgerError('key_store_unavailable', `PKCS#11 key with CKA_ID ${idHex}: the private key does not match its public key`, { ref });
      }
      this.#assertOpen();
      return new Pkcs11SigningKey(keyId, ref, publicKeySpki, privateKey, this);
    } catch (e) {
      throw p11Error(`cannot load PKCS#11 key with CKA_ID ${idHex}`, e, undefined, { ref });
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#handles.clear();
    for (const w of this.#waiters.splice(0)) w(undefined);
    // Let in-flight operations finish (bounded), then tear down.
    const deadline = Date.now() + CLOSE_DRAIN_MS;
    while (this.#free.length < this.#sessions.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await serialized(() => {
      Pkcs11KeyStore.#dropLogin(this.#mod, this.#slotKey, this.#sessions[0]);
      for (const s of this.#sessions) {
        try {
          this.#p11.C_CloseSession(s);
        } catch {
          /* already closed */
        }
      }
      this.#free.length = 0;
      releaseModule(this.#mod);
    });
  }

  toJSON(): { backend: 'pkcs11'; tokenLabel: string; slot: string } {
    return { backend: 'pkcs11', tokenLabel: this.tokenLabel, slot: this.slotId.toString() };
  }

  [inspect.custom](): string {
    return `Pkcs11KeyStore { tokenLabel: ${JSON.stringify(this.tokenLabel)}, slot: ${this.slotId}, closed: ${this.#closed} }`;
  }
}

/**
 * Opens a PKCS#11 key store on the token chosen by label and/or slot ID (the only initialised token
 * when neither is given), logs in with the user PIN and opens the session pool.
 */
export function openPkcs11KeyStore(options: Pkcs11KeyStoreOptions): Promise<Pkcs11KeyStore> {
  return Pkcs11KeyStore.open(options);
}
