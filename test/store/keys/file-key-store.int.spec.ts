import { createDecipheriv, createPrivateKey, createPublicKey, randomBytes, verify as nodeVerify } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import * as ed from '@noble/ed25519';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { publicKeyFromSpki, rawFromSpki } from '../../../src/crypto/ed25519.ts';
import type { KeyStore } from '../../../src/store/key-store.ts';
import { FileKeyStore, openFileKeyStore, type SealedKeyFile } from '../../../src/store/keys/file-key-store.ts';
import { describeKeyStoreContract, expectLedgerError } from './key-store-contract.ts';

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

describeKeyStoreContract('file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sigledger-keys-'));
  const kek = randomBytes(32);
  const stores: KeyStore[] = [await openFileKeyStore({ dir, kek })];
  return {
    store: stores[0]!,
    reopen: async () => {
      const s = await openFileKeyStore({ dir, kek });
      stores.push(s);
      return s;
    },
    unknownRef: `file:${'0'.repeat(64)}`,
    cleanup: async () => {
      for (const s of stores) await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

/** Every textual form a secret could leak in. */
const encodings = (b: Buffer): string[] => [b.toString('hex'), b.toString('hex').toUpperCase(), b.toString('base64'), b.toString('base64url'), b.toString('latin1')];

function expectNoSecret(haystack: string | Buffer, secrets: Buffer[]): void {
  const text = typeof haystack === 'string' ? haystack : haystack.toString('latin1');
  for (const s of secrets) {
    if (typeof haystack !== 'string') expect(haystack.includes(s)).toBe(false);
    for (const form of encodings(s)) expect(text.includes(form.slice(0, 40))).toBe(false);
  }
}

describe('file key store', () => {
  let dir: string;
  let kek: Buffer;
  let store: FileKeyStore;

  beforeEach(async () => {
    dir = join(mkdtempSync(join(tmpdir(), 'sigledger-fks-')), 'keys');
    kek = randomBytes(32);
    store = await openFileKeyStore({ dir, kek });
  });
  afterEach(async () => {
    await store.close();
    rmSync(join(dir, '..'), { recursive: true, force: true });
  });

  const fileOf = (keyId: string) => join(dir, `${keyId}.key.json`);
  const readSealed = (keyId: string) => JSON.parse(readFileSync(fileOf(keyId), 'utf8')) as SealedKeyFile;
  /** The test knows the KEK, so it can unseal a file itself to learn the seed it must never see elsewhere. */
  function unsealSeed(keyId: string): Buffer {
    const f = readSealed(keyId);
    const d = createDecipheriv('aes-256-gcm', kek, Buffer.from(f.nonce, 'base64'));
    d.setAAD(Buffer.from(`sigledger/file-key/v1/ed25519/${keyId}`));
    d.setAuthTag(Buffer.from(f.tag, 'base64'));
    return Buffer.concat([d.update(Buffer.from(f.ciphertext, 'base64')), d.final()]);
  }

  describe('when a key is generated', () => {
    it('writes <keyId>.key.json (0600, in a 0700 directory) with the sealed seed, the public key and no temp files', async () => {
      const g = await store.generate('release signing 2026-11');
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(readdirSync(dir)).toEqual([`${g.keyId}.key.json`]);
      expect(statSync(fileOf(g.keyId)).mode & 0o777).toBe(0o600);
      const f = readSealed(g.keyId);
      expect(f).toMatchObject({ v: 1, keyId: g.keyId, alg: 'ed25519', seal: 'aes-256-gcm', label: 'release signing 2026-11' });
      expect(Buffer.from(f.publicKey, 'base64').equals(g.publicKeySpki)).toBe(true);
      expect(Buffer.from(f.nonce, 'base64').length).toBe(12);
      expect(Buffer.from(f.tag, 'base64').length).toBe(16);
      expect(Buffer.from(f.ciphertext, 'base64').length).toBe(32);
      expect(Number.isNaN(Date.parse(f.createdAt))).toBe(false);
      expect(g.ref).toBe(`file:${g.keyId}`);
    });

    it('never writes the seed or the PKCS#8 key in any encoding', async () => {
      for (let i = 0; i < 5; i++) {
        const g = await store.generate(`scan ${i}`);
        const seed = unsealSeed(g.keyId);
        // The unsealed seed really is this key's private key.
        const priv = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
        expect(createPublicKey(priv).export({ format: 'der', type: 'spki' }).equals(g.publicKeySpki)).toBe(true);
        const pkcs8 = Buffer.concat([PKCS8_PREFIX, seed]);
        expectNoSecret(readFileSync(fileOf(g.keyId)), [seed, pkcs8]);
      }
    });

    it('rejects a label that is not a short string', async () => {
      await expectLedgerError(store.generate('x'.repeat(257)), 'invalid_request');
      await expectLedgerError(store.generate(42 as unknown as string), 'invalid_request');
    });
  });

  describe('when a key is loaded and used', () => {
    it('signs messages that node:crypto and @noble/ed25519 verify, also from a second store instance', async () => {
      const g = await store.generate('round trip');
      const other = await openFileKeyStore({ dir, kek: Buffer.from(kek) });
      try {
        for (const s of [store, other]) {
          const h = await s.load(g.ref);
          expect(h.keyId).toBe(g.keyId);
          const msg = randomBytes(100);
          const sig = await h.sign(msg);
          expect(nodeVerify(null, msg, publicKeyFromSpki(g.publicKeySpki), sig)).toBe(true);
          expect(await ed.verifyAsync(sig, msg, rawFromSpki(g.publicKeySpki))).toBe(true);
        }
      } finally {
        await other.close();
      }
    });

    it('never shows private bytes in the handle, the store or their errors', async () => {
      const g = await store.generate('leak check');
      const h = await store.load(g.ref);
      const seed = unsealSeed(g.keyId);
      const secrets = [seed, Buffer.concat([PKCS8_PREFIX, seed]), kek];
      const wrongKek = await openFileKeyStore({ dir, kek: randomBytes(32) });
      const err = await expectLedgerError(wrongKek.load(g.ref), 'key_store_unavailable');
      await wrongKek.close();
      for (const text of [
        JSON.stringify(h),
        inspect(h, { showHidden: true, depth: 20 }),
        String(h),
        JSON.stringify(store),
        inspect(store, { showHidden: true, depth: 20 }),
        inspect(err, { showHidden: true, depth: 20 }),
        JSON.stringify(err),
        err.message,
      ]) {
        expectNoSecret(text, secrets);
      }
      expect(Object.keys(h).sort()).toEqual(['algorithm', 'backend', 'keyId', 'publicKeySpki', 'ref']);
    });
  });

  describe('when the KEK is wrong', () => {
    it('throws key_store_unavailable naming the key only', async () => {
      const g = await store.generate('kek');
      const wrong = await openFileKeyStore({ dir, kek: randomBytes(32) });
      const e = await expectLedgerError(wrong.load(g.ref), 'key_store_unavailable');
      expect(e.message).toBe(`cannot unseal key ${g.keyId}: wrong KEK or tampered file`);
      await wrong.close();
      // A failed load is not cached: the right store still loads it.
      expect((await store.load(g.ref)).keyId).toBe(g.keyId);
    });

    it('refuses a KEK that is not 32 bytes', async () => {
      await expect(openFileKeyStore({ dir, kek: randomBytes(16) })).rejects.toMatchObject({ code: 'config_invalid' });
    });
  });

  describe('when the sealed file is tampered with', () => {
    const mutate = async (edit: (f: Record<string, unknown>, g: { keyId: string }) => void) => {
      const g = await store.generate('tamper');
      const f = readSealed(g.keyId) as unknown as Record<string, unknown>;
      edit(f, g);
      writeFileSync(fileOf(g.keyId), JSON.stringify(f), { mode: 0o600 });
      const fresh = await openFileKeyStore({ dir, kek });
      try {
        return await expectLedgerError(fresh.load(g.ref), 'key_store_unavailable');
      } finally {
        await fresh.close();
      }
    };
    const flip = (b64: unknown, i = 0) => {
      const b = Buffer.from(b64 as string, 'base64');
      b[i] = b[i]! ^ 0x01;
      return b.toString('base64');
    };

    it('detects a flipped ciphertext, tag or nonce bit', async () => {
      for (const field of ['ciphertext', 'tag', 'nonce']) {
        const e = await mutate((f) => {
          f[field] = flip(f[field], 5);
        });
        expect(e.message).toMatch(/wrong KEK or tampered file$/);
      }
    });

    it('detects a sealed seed moved from another key file (the AAD binds the key id)', async () => {
      const donor = await store.generate('donor');
      const donorFile = readSealed(donor.keyId);
      const e = await mutate((f) => {
        Object.assign(f, { nonce: donorFile.nonce, ciphertext: donorFile.ciphertext, tag: donorFile.tag });
      });
      expect(e.message).toMatch(/wrong KEK or tampered file$/);
    });

    it('detects a swapped public key, an unknown version and broken JSON', async () => {
      const other = await store.generate('other');
      expect((await mutate((f) => void (f.publicKey = other.publicKeySpki.toString('base64')))).message).toMatch(/corrupt/);
      expect((await mutate((f) => void (f.v = 2))).message).toMatch(/unsupported format version/);
      expect((await mutate((f) => void (f.ciphertext = 'AAAA'))).message).toMatch(/ciphertext has 3 bytes/);
      const g = await store.generate('json');
      writeFileSync(fileOf(g.keyId), '{ nope', { mode: 0o600 });
      const fresh = await openFileKeyStore({ dir, kek });
      expect((await expectLedgerError(fresh.load(g.ref), 'key_store_unavailable')).message).toMatch(/not JSON/);
      await fresh.close();
    });
  });

  describe('when the reference is bad', () => {
    it('throws key_not_found and never reads outside the key directory', async () => {
      const g = await store.generate('victim');
      // A valid key file outside the directory must stay unreachable.
      const outside = join(dir, '..', 'outside');
      mkdirSync(outside);
      writeFileSync(join(outside, `${g.keyId}.key.json`), readFileSync(fileOf(g.keyId)));
      for (const ref of [
        `file:../outside/${g.keyId}`,
        `file:${g.keyId}/../../outside/${g.keyId}`,
        `file:${g.keyId.toUpperCase()}`,
        `file:${g.keyId.slice(1)}`,
        `file:${g.keyId}0`,
        `file:${g.keyId}.key.json`,
        `file:${g.keyId}\0`,
        `file:/etc/passwd`,
        `FILE:${g.keyId}`,
        g.keyId,
        `file:${'f'.repeat(64)}`,
      ]) {
        const e = await expectLedgerError(store.load(ref), 'key_not_found');
        expect(e.message.length).toBeLessThan(200);
      }
      expect(readdirSync(dir)).toEqual([`${g.keyId}.key.json`]);
    });
  });
});
