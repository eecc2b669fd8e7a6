/**
 * Informational: Ed25519 signs per second through the key stores vs raw node:crypto.
 *   node --import tsx bench/keystore.bench.ts [signs=20000]
 * The pkcs11 rows use SoftHSM2 (set up like the tests; skipped with the reason when unavailable).
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SigningKeyHandle } from '../src/store/key-store.ts';
import { openFileKeyStore } from '../src/store/keys/file-key-store.ts';
import { openPkcs11KeyStore } from '../src/store/keys/pkcs11-key-store.ts';
import { setupSoftHsm } from '../test/support/softhsm.ts';

const N = Number(process.argv[2] ?? 20_000);
const message = randomBytes(256);
const rows: { name: string; perSecond: number }[] = [];

async function measure(name: string, n: number, once: () => unknown | Promise<unknown>, inFlight = 1): Promise<void> {
  for (let i = 0; i < Math.min(200, n); i++) await once(); // warm up
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      await once();
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = (performance.now() - t0) / 1000;
  rows.push({ name, perSecond: Math.round(n / seconds) });
  console.log(`${name.padEnd(44)} ${String(Math.round(n / seconds)).padStart(8)} signs/s`);
}

const { privateKey } = generateKeyPairSync('ed25519');
await measure('node:crypto sign (KeyObject reused)', N, () => sign(null, message, privateKey));

const dir = mkdtempSync(join(tmpdir(), 'sigledger-bench-keys-'));
const fileStore = await openFileKeyStore({ dir, kek: randomBytes(32) });
const fileKey: SigningKeyHandle = await fileStore.load((await fileStore.generate('bench')).ref);
await measure('file key store, sequential', N, () => fileKey.sign(message));
await measure('file key store, 64 in flight', N, () => fileKey.sign(message), 64);
await fileStore.close();
rmSync(dir, { recursive: true, force: true });

const hsm = await setupSoftHsm({ tokenLabel: 'sigledger-bench' });
if ('skipped' in hsm) {
  console.log(`pkcs11: SKIPPED: ${hsm.skipped}`);
} else {
  for (const sessions of [1, 4]) {
    const store = await openPkcs11KeyStore({ module: hsm.module, tokenLabel: hsm.tokenLabel, pin: hsm.pin, sessions });
    const key = await store.load((await store.generate('bench')).ref);
    const n = Math.max(1000, Math.floor(N / 4));
    await measure(`pkcs11 (SoftHSM2), ${sessions} session(s), sequential`, n, () => key.sign(message));
    await measure(`pkcs11 (SoftHSM2), ${sessions} session(s), 64 in flight`, n, () => key.sign(message), 64);
    await store.close();
  }
  await hsm.cleanup();
}
