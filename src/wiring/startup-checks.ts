/**
 * Start-up checks of the ceremony thresholds. The configuration decides them only for a new
 * ledger (the first start enrolls the approvers and publishes anchors version 1 with the
 * configured thresholds); once a ledger exists, the thresholds in force are the anchors' and the
 * approvers the enrolled set, which change only through ceremonies. So:
 *
 * - a new ledger whose configured thresholds cannot be reached is refused (`assertThresholdsReachable`,
 *   exit 2): before anything is written when the data directory or the store is empty, and in
 *   any case before anchors version 1 is published (a first start that failed half-way left
 *   keys and log events but no anchors: the ledger is still new);
 * - an existing ledger is never refused for its configuration: what is in force is checked after
 *   the stores open and reported (`thresholdsInForceWarnings`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEV_APPROVER_COUNT } from '../app/trust/approvers-service.ts';
import type { Config } from '../config.ts';
import { thresholdFor, unreachableThresholds, type CeremonyActionType } from '../domain/ceremony.ts';
import { ConfigError } from '../errors.ts';

/** How many approvers the first start enrolls: the dev approvers, or SIGLEDGER_APPROVERS. */
const approverCountOf = (config: Config): number => (config.authMode === 'dev' ? DEV_APPROVER_COUNT : config.approvers.length);

/**
 * Whether the SQLite ledger of `config` certainly exists (its event file is there). For ESDB it
 * cannot be told without connecting: the caller checks the store's head once it is open.
 */
export const sqliteLedgerExists = (config: Config): boolean => config.store === 'sqlite' && existsSync(join(config.dataDir, 'events.db'));

/**
 * For a new ledger: refuses a ceremony threshold that more approvals than there are approvers
 * would be needed for: such a ceremony (a scheduled rotation, say) could never be approved. A
 * configured threshold is always checked; a built-in default only when some approvers are
 * configured, because running without approvers is a deliberate mode (no ceremony can be
 * approved, the start-up warns). Call it only while no anchors version exists; `enrolled` is the
 * number of approvers already enrolled, when some are (else the configured ones count).
 */
export function assertThresholdsReachable(config: Config, enrolled?: number): void {
  const count = enrolled ?? approverCountOf(config);
  const configured = config.ceremonyThresholds;
  const unreachable = unreachableThresholds(configured, count).filter((type) => count > 0 || configured[type as CeremonyActionType] !== undefined);
  if (unreachable.length === 0) return;
  const needs = unreachable.map((type) => `${type} needs ${thresholdFor(type as CeremonyActionType, count, configured[type as CeremonyActionType])}`).join(', ');
  const who = enrolled !== undefined ? 'already enrolled' : config.authMode === 'dev' ? 'dev mode' : 'SIGLEDGER_APPROVERS';
  throw new ConfigError(`ceremony thresholds cannot be reached with ${count} approvers (${who}): ${needs}; set SIGLEDGER_CEREMONY_THRESHOLDS to at most ${count} or configure more approvers`);
}

/**
 * For an existing ledger: the ceremony types whose threshold in force (from the anchors) needs
 * more approvals than there are enrolled approvers, each as "type needs N". Empty when every
 * ceremony can be approved, or when no approver is enrolled (a deliberate mode, warned apart).
 */
export function unreachableInForce(thresholds: Readonly<Record<string, number>>, enrolled: number): string[] {
  if (enrolled === 0) return [];
  return unreachableThresholds(thresholds, enrolled).map((type) => `${type} needs ${thresholdFor(type as CeremonyActionType, enrolled, thresholds[type])}`);
}

/** Whether the configured thresholds are the ones in force (the same actions and values, in any order). */
export const sameThresholds = (a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): boolean => {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => b[k] === a[k]);
};
