/**
 * The key-store contract (SPEC §4): one mini suite, run against every KeyStore adapter.
 * `describeKeyStoreContract(backend, open)` registers it; `open()` gives a store plus a way to open
 * a second instance over the same storage (after the first is closed) and a cleanup.
 */
import { verify as nodeVerify } from 'node:crypto';
import { inspect } from 'node:util';
import * as ed from '@noble/ed25519';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isEd25519Spki, keyIdOf, publicKeyFromSpki, rawFromSpki } from '../../../src/crypto/ed25519.ts';
import { LedgerError } from '../../../src/errors.ts';
import type { KeyBackend, KeyStore } from '../../../src/store/key-store.ts';

export interface KeyStoreTarget {
  readonly store: KeyStore;
  /** Opens a new store instance over the same storage (the caller closes the old one first). */
  reopen(): Promise<KeyStore>;
  /** A well-formed reference to a key that does not exist in the store. */
  readonly unknownRef: string;
  /** Closes every store opened through this target and removes its storage. */
  cleanup(): Promise<void>;
}

export async function expectLedgerError(p: Promise<unknown> | (() => unknown), code: string): Promise<LedgerError> {
  let caught: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected a LedgerError with code ${code}`).toBeInstanceOf(LedgerError);
  expect((caught as LedgerError).code).toBe(code);
  return caught as LedgerError;
}

export function describeKeyStoreContract(backend: KeyBackend, open: () => Promise<KeyStoreTarget>): void {
  describe(`key store contract (${backend})`, () => {
    let target: KeyStoreTarget;
    let store: KeyStore;

    beforeEach(async () => {
      target = await open();
      store = target.store;
    });
    afterEach(async () => {
      await target.cleanup();
    });

    describe('when generating a key', () => {
      it('returns an Ed25519 SPKI, the key id (SHA-256 of the SPKI) and an opaque reference', async () => {
        expect(store.backend).toBe(backend);
        const g = await store.generate('contract key');
        expect(isEd25519Spki(g.publicKeySpki)).toBe(true);
        expect(g.keyId).toBe(keyIdOf(g.publicKeySpki));
        expect(g.ref).toMatch(new RegExp(`^${backend}:`));
      });

      it('creates a distinct key every time', async () => {
        const [a, b] = await Promise.all([store.generate('a'), store.generate('b')]);
        expect(a.keyId).not.toBe(b.keyId);
        expect(a.ref).not.toBe(b.ref);
      });
    });

    describe('when loading a key by its reference', () => {
      it('gives a handle describing the key, and the same handle when loaded again', async () => {
        const g = await store.generate('load me');
        const h = await store.load(g.ref);
        expect(h).toMatchObject({ keyId: g.keyId, ref: g.ref, backend, algorithm: 'ed25519' });
        expect(Buffer.from(h.publicKeySpki).equals(g.publicKeySpki)).toBe(true);
        expect(await store.load(g.ref)).toBe(h);
        const [x, y] = await Promise.all([store.load(g.ref), store.load(g.ref)]);
        expect(x).toBe(h);
        expect(y).toBe(h);
      });

      it('signs with 64-byte Ed25519 signatures that node:crypto and @noble/ed25519 verify', async () => {
        const g = await store.generate('signer');
        const h = await store.load(g.ref);
        const message = Buffer.from('contract message \u00e9\u0000\u00ff');
        const sig = await h.sign(new Uint8Array(message));
        expect(sig.length).toBe(64);
        expect(nodeVerify(null, message, publicKeyFromSpki(g.publicKeySpki), sig)).toBe(true);
        expect(await ed.verifyAsync(sig, message, rawFromSpki(g.publicKeySpki))).toBe(true);
        expect(nodeVerify(null, Buffer.from('another message'), publicKeyFromSpki(g.publicKeySpki), sig)).toBe(false);
      });

      it('signs deterministically (RFC 8032: same key and message, same signature)', async () => {
        const h = await store.load((await store.generate('det')).ref);
        const m = Buffer.from('deterministic');
        expect(Buffer.from(await h.sign(m)).equals(Buffer.from(await h.sign(m)))).toBe(true);
        expect(Buffer.from(await h.sign(new Uint8Array(0))).length).toBe(64);
      });
    });

    describe('when the store is opened again', () => {
      it('loads the same key, whose signatures verify under the original public key', async () => {
        const g = await store.generate('survives reopen');
        await store.close();
        const again = await target.reopen();
        const h = await again.load(g.ref);
        expect(h.keyId).toBe(g.keyId);
        const sig = await h.sign(Buffer.from('after reopen'));
        expect(nodeVerify(null, Buffer.from('after reopen'), publicKeyFromSpki(g.publicKeySpki), sig)).toBe(true);
      });
    });

    describe('when the reference is unknown or malformed', () => {
      it('throws key_not_found', async () => {
        await expectLedgerError(store.load(target.unknownRef), 'key_not_found');
        const other = backend === 'file' ? 'pkcs11:id=%01%02' : `file:${'ab'.repeat(32)}`;
        for (const ref of ['', 'nonsense', `${backend}:`, other, `${target.unknownRef}/../x`, ` ${target.unknownRef}`]) {
          await expectLedgerError(store.load(ref), 'key_not_found');
        }
      });
    });

    describe('when a handle is printed or serialised', () => {
      it('shows only the key id and the backend', async () => {
        const g = await store.generate('printable');
        const h = await store.load(g.ref);
        expect(JSON.parse(JSON.stringify(h))).toEqual({ keyId: g.keyId, backend });
        expect(inspect(h, { showHidden: true, depth: 10 })).toBe(`SigningKeyHandle { keyId: '${g.keyId}', backend: '${backend}' }`);
        expect(String(h)).toBe(`SigningKeyHandle(${backend}:${g.keyId})`);
      });
    });

    describe('when the store is closed', () => {
      it('refuses to load or sign, and closing again is harmless', async () => {
        const g = await store.generate('closing');
        const h = await store.load(g.ref);
        await store.close();
        await store.close();
        await expectLedgerError(store.load(g.ref), 'key_store_unavailable');
        await expectLedgerError(h.sign(Buffer.from('x')), 'key_store_unavailable');
        await expectLedgerError(store.generate('late'), 'key_store_unavailable');
      });
    });
  });
}
