/**
 * What happens when a ceremony is approved, by action type:
 *   rotate-key, revoke-key — the rotation process (rotation-process.ts);
 *   update-anchors          — the next anchors version with the proposed thresholds;
 *   enroll-/remove-approver — the approver set changes, then the next anchors version.
 * Each ends with the ceremony marked executed. Execution is single flight per ceremony on this
 * instance; across instances every step is idempotent, so two executing the same ceremony agree.
 * A failed execution is logged and resumes at the next start (`resume`) or approval.
 */
import { APPROVERS_STREAM, approversDecider, type ApproversCommand } from '../../domain/approvers.ts';
import type { EnrollApproverAction, RemoveApproverAction } from '../../domain/ceremony-action.ts';
import { isOpened, type OpenedCeremony } from '../../domain/ceremony.ts';
import { isLedgerError } from '../../errors.ts';
import { ceremoniesProjection } from '../../projections/ceremonies.ts';
import type { ReadModelReader } from '../../store/read-model.ts';
import { handleCommand, type CommandContext } from '../common/command-handler.ts';
import type { Logger } from '../common/logger.ts';
import type { AnchorsService } from '../trust/anchors-service.ts';
import type { CeremonyService } from './ceremony-service.ts';
import type { CeremonySteps } from './ceremony-steps.ts';
import type { RotationProcess } from './rotation-process.ts';

export interface CeremonyExecutorDeps extends CommandContext {
  readonly readModel: ReadModelReader;
  readonly ceremonies: CeremonyService;
  readonly anchors: AnchorsService;
  readonly logger: Logger;
}

export class CeremonyExecutor {
  private readonly running = new Map<string, Promise<void>>();
  private readonly stopping = new AbortController();

  constructor(
    private readonly deps: CeremonyExecutorDeps,
    private readonly steps: CeremonySteps,
    private readonly rotations: RotationProcess,
  ) {}

  /** Lets running executions stop at their next step boundary (re-signing stops between batches). */
  stop(): void {
    this.stopping.abort();
  }

  /** Waits for every execution in flight on this instance. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()]);
  }

  /** Executes an approved ceremony (single flight per ceremony on this instance); errors are logged. */
  execute(ceremonyId: string): Promise<void> {
    let p = this.running.get(ceremonyId);
    if (!p) {
      p = this.executeOnce(ceremonyId)
        .catch((err: unknown) => {
          this.deps.logger.error({ ceremonyId, code: isLedgerError(err) ? err.code : 'internal', message: (err as Error)?.message }, 'ceremony execution failed; it resumes at the next start or approval');
        })
        .finally(() => this.running.delete(ceremonyId));
      this.running.set(ceremonyId, p);
    }
    return p;
  }

  /** At start-up: executes approved ceremonies and finishes rotations that did not complete. */
  resume(): void {
    const ids = new Set(this.deps.ceremonies.approvedPending());
    for (const r of ceremoniesProjection.rotations(this.deps.readModel)) if (r.state === 'rotating' || r.state === 'resigning') ids.add(r.ceremonyId);
    for (const id of ids) void this.execute(id);
  }

  private async executeOnce(ceremonyId: string): Promise<void> {
    const ceremony = await this.deps.ceremonies.state(ceremonyId);
    // An executed ceremony runs again only to finish what it started (a rotation's re-signing).
    if (!isOpened(ceremony) || (ceremony.state !== 'approved' && ceremony.state !== 'executed')) return;
    const { action } = ceremony.proposal;
    switch (action.type) {
      case 'rotate-key':
      case 'revoke-key':
        return this.rotations.run(ceremony, action, this.stopping.signal);
      case 'update-anchors':
        await this.steps.publishAnchors(ceremony, action.thresholds);
        await this.steps.markExecuted(ceremony, { anchorsVersion: this.deps.anchors.latest()?.version ?? null });
        return;
      case 'enroll-approver':
      case 'remove-approver':
        await this.changeApprovers(ceremony, action);
        await this.steps.publishAnchors(ceremony);
        await this.steps.markExecuted(ceremony, { approverId: action.approverId });
        return;
    }
  }

  private async changeApprovers(ceremony: OpenedCeremony, action: EnrollApproverAction | RemoveApproverAction): Promise<void> {
    const time = this.steps.time();
    const { ceremonyId } = ceremony;
    const command: ApproversCommand =
      action.type === 'enroll-approver'
        ? { type: 'EnrollApprover', approverId: action.approverId, publicKey: action.publicKey, time, ceremonyId }
        : { type: 'RemoveApprover', approverId: action.approverId, time, ceremonyId };
    await handleCommand(this.deps, APPROVERS_STREAM, approversDecider, command, { metadata: this.steps.metadata(ceremony), waitForProjections: true });
  }
}
