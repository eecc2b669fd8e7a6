/**
 * DSSE signatures: every signature on a signing, re-signing, attestation or key transition
 * verifies with the key the registry had registered at that point, and a bundle is never signed
 * by a key already revoked at that point. The Ed25519 checks run on the signature pool's worker
 * threads while the driver keeps reading; their failures arrive at finish().
 */
import { decodeBase64Strict, pae } from '../../../crypto/dsse.ts';
import { isEnvelopeLike } from '../../../log/rekor-entry.ts';
import { SignaturePool } from '../signature-pool.ts';
import type { HistoryChecker, HistoryEntry, ReportProblem } from './checker.ts';
import type { KeyRegistryAt } from './key-registry.ts';

/** Events that carry an envelope, and whose signatures must be by the signing key or may be by any registered key. */
const ENVELOPE_SIGNERS: Readonly<Record<string, 'signer' | 'all'>> = {
  BundleSigned: 'signer',
  BundleResigned: 'signer',
  ResigningAttested: 'signer',
  KeyTransitionAttested: 'all',
};

type Failure = { readonly position: number; readonly message: string };

export class SignatureCheck implements HistoryChecker {
  private readonly pool: SignaturePool<Failure>;

  constructor(
    private readonly registry: KeyRegistryAt,
    private readonly report: ReportProblem,
    options: { readonly threads?: number } = {},
  ) {
    this.pool = new SignaturePool<Failure>(options.threads ? { threads: options.threads } : {});
  }

  observe({ event: e }: HistoryEntry): void {
    const mode = ENVELOPE_SIGNERS[e.type];
    const data = e.data as { envelope?: unknown; keyId?: string };
    if (!mode || !isEnvelopeLike(data.envelope)) return;
    const envelope = data.envelope;
    const where = `${e.type} in ${e.stream}`;
    const payload = decodeBase64Strict(envelope.payload);
    if (!payload) return this.report(e.position, 'signatures', `${where}: payload is not base64`);
    const message = pae(envelope.payloadType, payload);
    for (const s of envelope.signatures) {
      const key = this.registry.get(s.keyid);
      if (!key) {
        this.report(e.position, 'signatures', `${where}: signed by key ${s.keyid.slice(0, 64)}, which was not registered at that point`);
        continue;
      }
      if (mode === 'signer') {
        // A re-signing attestation is by the new key over the old key's bundle: it names the old one.
        if (data.keyId !== undefined && s.keyid !== data.keyId && e.type !== 'ResigningAttested') this.report(e.position, 'signatures', `${where}: signature by ${s.keyid} but the event names key ${data.keyId}`);
        const revoked = this.registry.revokedAt(s.keyid);
        if (revoked !== undefined) this.report(e.position, 'signatures', `${where}: signed by key ${s.keyid}, revoked at position ${revoked}`);
      }
      const sig = decodeBase64Strict(s.sig);
      if (!sig) {
        this.report(e.position, 'signatures', `${where}: signature is not base64`);
        continue;
      }
      this.pool.add({ publicKey: key.publicKey, message, signature: sig, tag: { position: e.position, message: `${where}: the signature by key ${s.keyid} does not verify` } });
    }
  }

  /** Lets the driver slow down while the workers are behind. */
  backpressure(): Promise<void> {
    return this.pool.backpressure();
  }

  /** Waits for the workers and reports every signature that did not verify. */
  async finish(): Promise<void> {
    for (const f of await this.pool.drain()) this.report(f.position, 'signatures', f.message);
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  summary(): { readonly checked: number; readonly threads: number; readonly skipped: boolean } {
    return { checked: this.pool.checked, threads: this.pool.threads, skipped: false };
  }
}
