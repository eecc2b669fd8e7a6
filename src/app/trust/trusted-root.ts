/**
 * The ledger's Sigstore TrustedRoot (SPEC §2 `trusted_root.json`): the transparency log and,
 * when the service runs one, its RFC 3161 timestamp authority. Served by the trust route and
 * used by the release-integrity checks, so both trust exactly the same roots.
 */
import type { LogService } from '../transparency/log-service.ts';
import type { TsaService } from '../timestamping/tsa-service.ts';

/** The TrustedRoot `timestampAuthorities` entry for the ledger's TSA. */
function timestampAuthority(tsa: TsaService, origin: string) {
  const info = tsa.info();
  return {
    subject: { organization: 'sigledger', commonName: 'sigledger Time-Stamp Authority' },
    // The log origin's host part: `sigledger.local/log` → https://sigledger.local/api/v1/timestamp
    uri: `https://${origin.split('/')[0]}/api/v1/timestamp`,
    certChain: { certificates: info.certChain.map((rawBytes) => ({ rawBytes })) },
    validFor: { start: info.validFrom, end: info.validUntil },
  };
}

export function trustedRootDocument(log: LogService, tsa?: TsaService): Record<string, unknown> {
  const root = log.trustedRoot();
  return tsa ? { ...root, timestampAuthorities: [timestampAuthority(tsa, log.identity().origin)] } : root;
}
