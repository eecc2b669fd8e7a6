/**
 * Instants the ledger publishes for verifiers are whole seconds: RFC 3161 verifiers (e.g.
 * @sigstore/core) read genTime at second precision, so key validity windows and timestamp
 * genTimes must agree on that grain, or a signature made in a key's first second falls outside it.
 */
export const wholeSecond = (d: Date): Date => new Date(Math.floor(d.getTime() / 1000) * 1000);
