/**
 * Rotations and the execution of approved ceremonies, behind one service for the HTTP routes and
 * the composition root. It only assembles the parts, each in its own module:
 *   rotation-views.ts     — the read side (GET /api/v1/rotations[/{id}]);
 *   ceremony-executor.ts  — what an approved ceremony of each action type does;
 *   rotation-process.ts   — the rotation process manager (start → keys → transition
 *                           attestation → anchors → executed → re-sign → completed);
 *   resigner.ts           — per-bundle verification and re-signing, in batches.
 * The composition root hands approvals to `execute` (`ceremonies.onApproved`).
 */
import type { LogService } from '../transparency/log-service.ts';
import type { CommandContext } from '../common/command-handler.ts';
import type { KeyringService } from '../keys/keyring-service.ts';
import type { Logger } from '../common/logger.ts';
import type { Metrics } from '../common/metrics.ts';
import type { TsaService } from '../timestamping/tsa-service.ts';
import type { AnchorsService } from '../trust/anchors-service.ts';
import type { ReadModelReader } from '../../store/read-model.ts';
import { CeremonyExecutor } from './ceremony-executor.ts';
import type { CeremonyService } from './ceremony-service.ts';
import { CeremonySteps } from './ceremony-steps.ts';
import { Resigner } from './resigner.ts';
import { RotationProcess } from './rotation-process.ts';
import { RotationViews, type RotationDetail, type RotationView } from './rotation-views.ts';

export interface RotationServiceDeps extends CommandContext {
  readonly readModel: ReadModelReader;
  readonly keyring: KeyringService;
  readonly tsa: TsaService;
  readonly anchors: AnchorsService;
  readonly ceremonies: CeremonyService;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  readonly now: () => Date;
  /** The transparency log (a rotation completes once a checkpoint covers its re-signed versions). */
  readonly log?: Pick<LogService, 'waitForCheckpoint' | 'reader'>;
  /** Bundles re-signed concurrently per batch (default 64). */
  readonly batchSize?: number;
  /** Pause between batches so live signing keeps the event loop (default 0: one macrotask turn). */
  readonly pauseMs?: number;
}

export class RotationService {
  private readonly views: RotationViews;
  private readonly executor: CeremonyExecutor;

  constructor(deps: RotationServiceDeps) {
    this.views = new RotationViews(deps);
    const steps = new CeremonySteps(deps);
    const resigner = new Resigner({ ...deps, views: this.views });
    this.executor = new CeremonyExecutor(deps, steps, new RotationProcess(deps, steps, resigner, deps.ceremonies.keys));
  }

  list(): RotationView[] {
    return this.views.list();
  }

  view(rotationId: string): RotationView | undefined {
    return this.views.view(rotationId);
  }

  /** The view plus the key transition attestation (its DSSE envelope, signed by both keys). */
  detail(rotationId: string): Promise<RotationDetail | undefined> {
    return this.views.detail(rotationId);
  }

  /** Executes an approved ceremony (single flight per ceremony on this instance); errors are logged. */
  execute(ceremonyId: string): Promise<void> {
    return this.executor.execute(ceremonyId);
  }

  /** At start-up: executes approved ceremonies and finishes rotations that did not complete. */
  async resume(): Promise<void> {
    this.executor.resume();
  }

  stop(): void {
    this.executor.stop();
  }

  /** Waits for every execution in flight on this instance. */
  idle(): Promise<void> {
    return this.executor.idle();
  }
}
