/**
 * Start-up checks of the ceremony thresholds. The configuration decides them only for a new
 * ledger (the first start enrolls the approvers and publishes anchors version 1 with the
 * configured thresholds); once a ledger exists, the thresholds in force are the anchors' and the
 * approvers the enrolled set, which change only through ceremonies. So:
 *
 * - a new ledger whose configured thresholds cannot be reached is refused before anything is
 *   written (`assertThresholdsReachable`, exit 2);
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
 * approved, the start-up warns). Call it only while the event history is empty.
 */
export function assertThresholdsReachable(config: Config): void {
  const count = approverCountOf(config);
  const configured = config.ceremonyThresholds;
  const unreachable = unreachableThresholds(configured, count).filter((type) => count > 0 || configured[type as CeremonyActionType] !== undefined);
  if (unreachable.length === 0) return;
  const needs = unreachable.map((type) => `${type} needs ${thresholdFor(type as CeremonyActionType, count, configured[type as CeremonyActionType])}`).join(', ');
  const who = config.authMode === 'dev' ? 'dev mode' : 'SIGLEDGER_APPROVERS';
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
