/**
 * The steps every approved ceremony ends with, whatever its action: publish the next trust-anchors
 * version carrying the ceremony's approvals, then mark the ceremony executed with its result.
 * Both are idempotent (the anchors decider ignores a repeat, an executed ceremony stays executed),
 * so a resumed execution simply runs them again.
 */
import { randomUUID } from 'node:crypto';
import type { CeremonyThresholds } from '../../domain/ceremony-action.ts';
import type { OpenedCeremony } from '../../domain/ceremony.ts';
import type { EventMetadata } from '../../store/event-store.ts';
import type { Logger } from '../common/logger.ts';
import type { AnchorsService } from '../trust/anchors-service.ts';
import type { CeremonyService } from './ceremony-service.ts';

export interface CeremonyStepsDeps {
  readonly anchors: AnchorsService;
  readonly ceremonies: CeremonyService;
  readonly logger: Logger;
  readonly now: () => Date;
}

export type ExecutionResult = Record<string, string | number | null>;

export class CeremonySteps {
  constructor(private readonly deps: CeremonyStepsDeps) {}

  time(): string {
    return this.deps.now().toISOString();
  }

  /** Metadata of the events a ceremony's execution appends (the ceremony is the actor). */
  metadata(ceremony: OpenedCeremony): EventMetadata {
    return { time: this.time(), correlationId: randomUUID(), actor: `ceremony:${ceremony.ceremonyId}` };
  }

  /** The next anchors version, signed (as TUF would say) by the approvals the ceremony was approved with. */
  async publishAnchors(ceremony: OpenedCeremony, thresholds?: CeremonyThresholds): Promise<void> {
    const approved = new Set(ceremony.approverIds);
    await this.deps.anchors.publish({
      ceremony: { ceremonyId: ceremony.ceremonyId, proposal: ceremony.proposal, proposalDigest: ceremony.proposalDigest },
      signatures: ceremony.approvals.filter((a) => approved.has(a.approverId)).map((a) => ({ keyid: a.approverId, sig: a.signature })),
      ...(thresholds ? { thresholds } : {}),
    });
  }

  async markExecuted(ceremony: OpenedCeremony, result: ExecutionResult): Promise<void> {
    if (ceremony.state === 'executed') return;
    await this.deps.ceremonies.run(ceremony.ceremonyId, { type: 'MarkExecuted', time: this.time(), result }, `ceremony:${ceremony.ceremonyId}`);
    this.deps.logger.info({ ceremonyId: ceremony.ceremonyId, ...result }, 'ceremony executed');
  }
}
