/**
 * PKCS#11 key store against SoftHSM2 (installed by test/support/softhsm.ts when missing and
 * possible). Where SoftHSM2 cannot be set up the suite is reported skipped, with the reason.
 */
import { verify as nodeVerify } from 'node:crypto';
import { inspect } from 'node:util';
import * as ed from '@noble/ed25519';
import pkcs11js from 'pkcs11js';
import { afterAll, describe, expect, it } from 'vitest';
import { publicKeyFromSpki, rawFromSpki } from '../../../src/crypto/ed25519.ts';
import type { KeyStore } from '../../../src/store/key-store.ts';
import { CKK_EC_EDWARDS, CKM_EDDSA, openPkcs11KeyStore, parsePkcs11KeyRef, type Pkcs11KeyStore } from '../../../src/store/keys/pkcs11-key-store.ts';
import { setupSoftHsm } from '../../support/softhsm.ts';
import { describeKeyStoreContract, expectLedgerError } from './key-store-contract.ts';

const hsm = await setupSoftHsm();
const skipped = 'skipped' in hsm ? hsm.skipped : undefined;

if (skipped !== undefined) {
  console.log(`[pkcs11] SKIPPED: ${skipped}`);
  describe('pkcs11 key store', () => {
    it.skip(`SKIPPED: ${skipped}`, () => undefined);
  });
}

afterAll(async () => {
  if (!('skipped' in hsm)) await hsm.cleanup();
});

const hsmReady = 'skipped' in hsm ? undefined : hsm;
const openStore = (pin?: string): Promise<Pkcs11KeyStore> =>
  openPkcs11KeyStore({ module: hsmReady!.module, tokenLabel: hsmReady!.tokenLabel, pin: pin ?? hsmReady!.pin });

if (hsmReady) {
  describeKeyStoreContract('pkcs11', async () => {
    const stores: KeyStore[] = [await openStore()];
    return {
      store: stores[0]!,
      reopen: async () => {
        const s = await openStore();
        stores.push(s);
        return s;
      },
      unknownRef: `pkcs11:id=${'%00'.repeat(32)}`,
      cleanup: async () => {
        for (const s of stores) await s.close();
      },
    };
  });
}

/** Reads attributes of the key objects with CKA_ID `id` through a separate raw pkcs11js session. */
async function withRawSession<T>(store: Pkcs11KeyStore, fn: (p11: pkcs11js.PKCS11, session: Buffer) => T): Promise<T> {
  // The store keeps the library initialised and the token logged in; this instance shares that state.
  const p11 = new pkcs11js.PKCS11();
  p11.load(hsmReady!.module);
  const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === store.tokenLabel)!;
  const session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
  try {
    return fn(p11, session);
  } finally {
    p11.C_CloseSession(session);
  }
}

function findByClass(p11: pkcs11js.PKCS11, session: Buffer, cls: number, id: Buffer): Buffer[] {
  p11.C_FindObjectsInit(session, [
    { type: pkcs11js.CKA_CLASS, value: cls },
    { type: pkcs11js.CKA_ID, value: id },
  ]);
  try {
    return p11.C_FindObjects(session, 10);
  } finally {
    p11.C_FindObjectsFinal(session);
  }
}

describe.skipIf(skipped !== undefined)('pkcs11 key store', () => {
  describe('when a key is generated in the token', () => {
    it('creates token objects with a sensitive, non-extractable private key and the key id as CKA_ID', async () => {
      const store = await openStore();
      try {
        const g = await store.generate('hsm key');
        const id = parsePkcs11KeyRef(g.ref)!;
        expect(id.toString('hex')).toBe(g.keyId);
        expect(g.ref).not.toContain(hsmReady!.pin);
        await withRawSession(store, (p11, session) => {
          const [priv, ...morePriv] = findByClass(p11, session, pkcs11js.CKO_PRIVATE_KEY, id);
          const [pub, ...morePub] = findByClass(p11, session, pkcs11js.CKO_PUBLIC_KEY, id);
          expect(priv).toBeDefined();
          expect(pub).toBeDefined();
          expect(morePriv).toEqual([]);
          expect(morePub).toEqual([]);
          const attrs = p11.C_GetAttributeValue(session, priv!, [
            { type: pkcs11js.CKA_KEY_TYPE },
            { type: pkcs11js.CKA_TOKEN },
            { type: pkcs11js.CKA_PRIVATE },
            { type: pkcs11js.CKA_SENSITIVE },
            { type: pkcs11js.CKA_EXTRACTABLE },
            { type: pkcs11js.CKA_ALWAYS_SENSITIVE },
            { type: pkcs11js.CKA_NEVER_EXTRACTABLE },
            { type: pkcs11js.CKA_SIGN },
            { type: pkcs11js.CKA_LABEL },
          ]);
          const [keyType, token, priv_, sensitive, extractable, alwaysSensitive, neverExtractable, sign, label] = attrs.map((a) => a.value);
          expect(keyType![0]).toBe(CKK_EC_EDWARDS);
          expect(keyType!.subarray(1).every((b) => b === 0)).toBe(true);
          expect([token, priv_, sensitive, extractable, alwaysSensitive, neverExtractable, sign].map((b) => b![0])).toEqual([1, 1, 1, 0, 1, 1, 1]);
          expect(label!.toString()).toBe('hsm key');
          // The private value cannot be read out.
          let err: unknown;
          try {
            p11.C_GetAttributeValue(session, priv!, [{ type: pkcs11js.CKA_VALUE }]);
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(pkcs11js.Pkcs11Error);
          expect((err as pkcs11js.Pkcs11Error).code).toBe(pkcs11js.CKR_ATTRIBUTE_SENSITIVE);
          // The public point is the SPKI's raw key, DER-wrapped (04 20 …).
          const [point] = p11.C_GetAttributeValue(session, pub!, [{ type: pkcs11js.CKA_EC_POINT }]);
          expect(point!.value.subarray(0, 2).toString('hex')).toBe('0420');
          expect(point!.value.subarray(2).equals(rawFromSpki(g.publicKeySpki))).toBe(true);
        });
      } finally {
        await store.close();
      }
    });
  });

  describe('when signing with CKM_EDDSA', () => {
    it('produces deterministic signatures that node:crypto and @noble/ed25519 verify, also through a raw session', async () => {
      const store = await openStore();
      try {
        const g = await store.generate('signer');
        const h = await store.load(g.ref);
        const msg = Buffer.from('sign me inside the token');
        const sig = Buffer.from(await h.sign(msg));
        expect(Buffer.from(await h.sign(msg)).equals(sig)).toBe(true);
        expect(nodeVerify(null, msg, publicKeyFromSpki(g.publicKeySpki), sig)).toBe(true);
        expect(await ed.verifyAsync(sig, msg, rawFromSpki(g.publicKeySpki))).toBe(true);
        await withRawSession(store, (p11, session) => {
          const [priv] = findByClass(p11, session, pkcs11js.CKO_PRIVATE_KEY, parsePkcs11KeyRef(g.ref)!);
          p11.C_SignInit(session, { mechanism: CKM_EDDSA }, priv!);
          expect(p11.C_Sign(session, msg, Buffer.alloc(64)).equals(sig)).toBe(true);
        });
      } finally {
        await store.close();
      }
    });

    it('signs 200 messages concurrently over the session pool, each verifying', async () => {
      const store = await openStore();
      try {
        const g = await store.generate('busy');
        const h = await store.load(g.ref);
        const pub = publicKeyFromSpki(g.publicKeySpki);
        const msgs = Array.from({ length: 200 }, (_, i) => Buffer.from(`message ${i}`));
        const sigs = await Promise.all(msgs.map((m) => h.sign(m)));
        sigs.forEach((s, i) => expect(nodeVerify(null, msgs[i]!, pub, s)).toBe(true));
        // Two keys interleaved.
        const h2 = await store.load((await store.generate('busy 2')).ref);
        const mixed = await Promise.all(msgs.map((m, i) => (i % 2 ? h : h2).sign(m)));
        mixed.forEach((s, i) => expect(nodeVerify(null, msgs[i]!, publicKeyFromSpki((i % 2 ? h : h2).publicKeySpki), s)).toBe(true));
      } finally {
        await store.close();
      }
    });
  });

  describe('when a key disappears from the token under a loaded handle', () => {
    it('fails those signs with key_not_found and keeps every pooled session usable', async () => {
      const store = await openStore();
      try {
        const doomed = await store.load((await store.generate('doomed')).ref);
        const fine = await store.load((await store.generate('fine')).ref);
        await withRawSession(store, (p11, _) => {
          const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === store.tokenLabel)!;
          const rw = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
          try {
            for (const o of findByClass(p11, rw, pkcs11js.CKO_PRIVATE_KEY, parsePkcs11KeyRef(doomed.ref)!)) p11.C_DestroyObject(rw, o);
          } finally {
            p11.C_CloseSession(rw);
          }
        });
        const failures = await Promise.allSettled(Array.from({ length: 8 }, () => doomed.sign(Buffer.from('x'))));
        for (const f of failures) {
          expect(f.status).toBe('rejected');
          expect((f as PromiseRejectedResult).reason).toMatchObject({ code: 'key_not_found' });
        }
        const msgs = Array.from({ length: 40 }, (_, i) => Buffer.from(`after ${i}`));
        const sigs = await Promise.all(msgs.map((m) => fine.sign(m)));
        sigs.forEach((s, i) => expect(nodeVerify(null, msgs[i]!, publicKeyFromSpki(fine.publicKeySpki), s)).toBe(true));
      } finally {
        await store.close();
      }
    });
  });

  describe('when the store is closed and opened again (new C_Initialize)', () => {
    it('loads the same key by its reference', async () => {
      const first = await openStore();
      const g = await first.generate('persistent');
      const before = await (await first.load(g.ref)).sign(Buffer.from('m'));
      await first.close();
      await first.close();
      // Also through the "only initialised token" selection (no label given).
      const second = await openPkcs11KeyStore({ module: hsmReady!.module, pin: hsmReady!.pin });
      try {
        const h = await second.load(g.ref);
        expect(h.keyId).toBe(g.keyId);
        expect(Buffer.from(await h.sign(Buffer.from('m'))).equals(Buffer.from(before))).toBe(true);
        expect(JSON.parse(JSON.stringify(second))).toMatchObject({ backend: 'pkcs11', tokenLabel: hsmReady!.tokenLabel });
        expect(inspect(second)).not.toContain(hsmReady!.pin);
      } finally {
        await second.close();
      }
    });
  });

  describe('when the reference names no key in the token', () => {
    it('throws key_not_found', async () => {
      const store = await openStore();
      try {
        await expectLedgerError(store.load(`pkcs11:id=${'%ab'.repeat(32)}`), 'key_not_found');
        await expectLedgerError(store.load('pkcs11:id=deadbeef'), 'key_not_found');
        await expectLedgerError(store.load('pkcs11:token=x;id=%01'), 'key_not_found');
      } finally {
        await store.close();
      }
    });
  });

  describe('when the PIN is wrong', () => {
    it('throws key_store_unavailable without the PIN in the message, alone or next to an open store', async () => {
      const wrongPin = '98761234';
      const alone = await expectLedgerError(openStore(wrongPin), 'key_store_unavailable');
      expect(alone.message).toMatch(/CKR_PIN_INCORRECT/);
      const good = await openStore();
      try {
        const beside = await expectLedgerError(openStore(wrongPin), 'key_store_unavailable');
        for (const e of [alone, beside]) {
          expect(e.message).not.toContain(wrongPin);
          expect(e.message).not.toContain(hsmReady!.pin);
          expect(JSON.stringify(e.details ?? {})).not.toContain(wrongPin);
          expect(inspect(e, { depth: 10 })).not.toContain(wrongPin);
        }
        // The open store is unaffected.
        const g = await good.generate('still fine');
        expect((await good.load(g.ref)).keyId).toBe(g.keyId);
      } finally {
        await good.close();
      }
    });
  });

  describe('when the module or token does not exist', () => {
    it('throws key_store_unavailable', async () => {
      await expectLedgerError(openPkcs11KeyStore({ module: '/nonexistent/libnothing.so', pin: '1234' }), 'key_store_unavailable');
      await expectLedgerError(openPkcs11KeyStore({ module: hsmReady!.module, tokenLabel: 'no-such-token', pin: '1234' }), 'key_store_unavailable');
    });
  });
});
