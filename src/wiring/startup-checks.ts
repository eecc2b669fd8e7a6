/**
 * Configuration checks that need nothing but the configuration, run before the service touches
 * the data directory: a refused start leaves no half-initialised directory behind.
 */
import { DEV_APPROVER_COUNT } from '../app/trust/approvers-service.ts';
import type { Config } from '../config.ts';
import { thresholdFor, unreachableThresholds, type CeremonyActionType } from '../domain/ceremony.ts';
import { ConfigError } from '../errors.ts';

/** How many approvers the first start enrolls: the dev approvers, or SIGLEDGER_APPROVERS. */
const approverCountOf = (config: Config): number => (config.authMode === 'dev' ? DEV_APPROVER_COUNT : config.approvers.length);

/**
 * Refuses a ceremony threshold that more approvals than there are approvers would be needed for:
 * such a ceremony (a scheduled rotation, say) could never be approved. A configured threshold is
 * always checked; a built-in default only when some approvers are configured, because running
 * without approvers is a deliberate mode (no ceremony can be approved, the start-up warns).
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
