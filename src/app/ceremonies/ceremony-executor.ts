/**
 * What happens when a ceremony is approved, by action type:
 *   rotate-key, revoke-key — the rotation process (rotation-process.ts);
 *   update-anchors          — the next anchors version with the proposed thresholds;
 *   enroll-/remove-approver — the approver set changes, then the next anchors version.
 * Each ends with the ceremony marked executed. Execution is single flight per ceremony on this
 * instance; across instances every step is idempotent, so two executing the same ceremony agree.
 * A failed execution is logged and resumes at the next start (`resume`) or approval.
 *
 * Governance: the part of an execution that changes keys, approvers or anchors runs under one
 * lock on this instance (one ceremony at a time), and starts by checking the ceremony against the
 * anchors version the store holds now — not the one it was approved under. A ceremony that no
 * longer stands (an approver was removed, a threshold raised) is re-evaluated instead of
 * executed. After a version that changed approvers or thresholds, every open ceremony is
 * re-evaluated. Across instances the anchors decider is the last line: it refuses to append a
 * version that `verifyAnchorsSuccessor` would refuse.
 */
import { APPROVERS_STREAM, approversDecider, type ApproversCommand } from '../../domain/approvers.ts';
import type { EnrollApproverAction, RemoveApproverAction } from '../../domain/ceremony-action.ts';
import { governanceOf } from '../../domain/anchors.ts';
import { isOpened, standingOf, type OpenedCeremony } from '../../domain/ceremony.ts';
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

type GovernedOutcome =
  | { readonly kind: 'rotation'; readonly ceremony: OpenedCeremony; readonly rotation: NonNullable<Awaited<ReturnType<RotationProcess['transition']>>> }
  | { readonly kind: 'governance' };

export class CeremonyExecutor {
  private readonly running = new Map<string, Promise<void>>();
  private readonly stopping = new AbortController();
  /** The tail of the governed sections run so far: each waits for the previous one. */
  private governedTail: Promise<unknown> = Promise.resolve();

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

  /**
   * At start-up: re-evaluates open ceremonies under the anchors in force (a crash may have come
   * between a governance change and their re-evaluation), executes approved ceremonies and
   * finishes rotations that did not complete.
   */
  resume(): void {
    void this.governed(() => this.deps.ceremonies.reevaluateOpen()).catch((err: unknown) => {
      this.deps.logger.error({ code: isLedgerError(err) ? err.code : 'internal', message: (err as Error)?.message }, 'could not re-evaluate open ceremonies at start-up');
    });
    const ids = new Set(this.deps.ceremonies.approvedPending());
    for (const r of ceremoniesProjection.rotations(this.deps.readModel)) if (r.state === 'rotating' || r.state === 'resigning') ids.add(r.ceremonyId);
    for (const id of ids) void this.execute(id);
  }

  /** Runs `fn` once every governed section started before it on this instance has ended. */
  private governed<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.governedTail.then(fn, fn);
    this.governedTail = run.catch(() => undefined);
    return run;
  }

  private async executeOnce(ceremonyId: string): Promise<void> {
    const outcome = await this.governed(() => this.executeGoverned(ceremonyId));
    if (!outcome) return;
    if (outcome.kind === 'rotation') return this.rotations.finish(outcome.ceremony, outcome.rotation, this.stopping.signal);
    // Approvers or thresholds changed: every open ceremony stands anew (some may now execute).
    await this.deps.ceremonies.reevaluateOpen();
  }

  /** The governed part: checked against the anchors in force, then keys, approvers and anchors change. */
  private async executeGoverned(ceremonyId: string): Promise<GovernedOutcome | undefined> {
    const ceremony = await this.deps.ceremonies.state(ceremonyId);
    // An executed ceremony runs again only to finish what it started (a rotation's re-signing).
    if (!isOpened(ceremony) || (ceremony.state !== 'approved' && ceremony.state !== 'executed')) return undefined;
    if (ceremony.state === 'approved' && !(await this.stillStands(ceremony))) return undefined;
    const { action } = ceremony.proposal;
    if (action.type === 'rotate-key' || action.type === 'revoke-key') {
      const rotation = await this.rotations.transition(ceremony, action);
      return rotation ? { kind: 'rotation', ceremony, rotation } : undefined;
    }
    if (ceremony.state === 'executed') return undefined;
    switch (action.type) {
      case 'update-anchors':
        await this.steps.publishAnchors(ceremony, action.thresholds);
        await this.steps.markExecuted(ceremony, { anchorsVersion: this.deps.anchors.latest()?.version ?? null });
        return { kind: 'governance' };
      case 'enroll-approver':
      case 'remove-approver':
        await this.changeApprovers(ceremony, action);
        await this.steps.publishAnchors(ceremony);
        await this.steps.markExecuted(ceremony, { approverId: action.approverId });
        return { kind: 'governance' };
    }
  }

  /**
   * Whether an approved ceremony still stands under the anchors version the store holds now
   * (its own version, when a crash came between publishing it and marking it executed, counts
   * as standing). When it does not, it is re-evaluated under that version instead.
   */
  private async stillStands(ceremony: OpenedCeremony): Promise<boolean> {
    const inForce = await this.deps.anchors.inForce();
    if (inForce.ceremony?.ceremonyId === ceremony.ceremonyId) return true;
    const governance = governanceOf(inForce);
    const now = standingOf(ceremony, governance);
    if (now.approved) return true;
    this.deps.logger.warn({ ceremonyId: ceremony.ceremonyId, anchorsVersion: governance.version, reasons: now.reasons }, 'an approved ceremony no longer stands under the anchors in force: re-evaluated, not executed');
    await this.deps.ceremonies.run(ceremony.ceremonyId, { type: 'Reevaluate', time: this.steps.time(), governance }, 'system:governance');
    return false;
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
