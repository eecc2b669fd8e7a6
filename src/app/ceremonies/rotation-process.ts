/**
 * A rotation as a process manager over several streams. An approved rotate-key (or revoke-key)
 * ceremony executes as:
 *   1. `RotationStarted` in `rotation-<id>` (the first instance to append wins);
 *   2. key registry: the incoming key (generated when the ceremony opened) is registered and
 *      activated, which retires the outgoing key at the transition instant T (whole second);
 *      a revocation also revokes its key, from `compromisedSince` when given;
 *   3. the key transition attestation, signed by both keys and timestamped, `KeyTransitionAttested`
 *      (only when a new key came in);
 *   4. the next trust-anchors version, carrying the ceremony's approvals; `CeremonyExecuted`;
 *   5. re-signing (see resigner.ts);
 *   6. `RotationCompleted`.
 * Every step is idempotent and decided from the streams, so after a crash (or on another
 * instance) running the process again continues from wherever it stopped. A revocation re-signs
 * only what the revoked key signed at or after `compromisedSince`.
 */
import type { LogService } from '../transparency/log-service.ts';
import { envelopeJson, signEnvelope } from '../../crypto/dsse.ts';
import { jcsBytes } from '../../crypto/jcs.ts';
import { ATTESTATION_PAYLOAD_TYPE, keyTransitionStatement } from '../../domain/attestations.ts';
import type { RotationAction } from '../../domain/ceremony-action.ts';
import type { OpenedCeremony } from '../../domain/ceremony.ts';
import { KEYRING_STREAM, keyringDecider, type KeyringCommand, type KeyringState } from '../../domain/keyring.ts';
import { rotationDecider, rotationStream, type RotationCommand, type RotationStarted, type RotationState } from '../../domain/rotation.ts';
import { LedgerError } from '../../errors.ts';
import { ceremoniesProjection } from '../../projections/ceremonies.ts';
import type { ReadModelReader } from '../../store/read-model.ts';
import { handleCommand, handleCommands, type CommandContext } from '../common/command-handler.ts';
import { loadState } from '../common/load-state.ts';
import type { KeyringService } from '../keys/keyring-service.ts';
import type { Logger } from '../common/logger.ts';
import type { Metrics } from '../common/metrics.ts';
import { wholeSecond } from '../common/time.ts';
import type { TsaService } from '../timestamping/tsa-service.ts';
import type { CeremonySteps } from './ceremony-steps.ts';
import type { PendingKeys } from './pending-keys.ts';
import type { Resigner } from './resigner.ts';

export interface RotationProcessDeps extends CommandContext {
  readonly readModel: ReadModelReader;
  readonly keyring: KeyringService;
  readonly tsa: TsaService;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  readonly now: () => Date;
  /**
   * The transparency log: a rotation completes only once a signed checkpoint covers every leaf
   * it appended, so each re-signed version is served with its inclusion proof from then on.
   */
  readonly log?: Pick<LogService, 'waitForCheckpoint' | 'reader'>;
}

/** How long completion waits for its covering checkpoint: above the longest checkpoint interval (60 s). */
const COVERING_CHECKPOINT_TIMEOUT_MS = 90_000;

/** Resolves when `p` settles or `signal` aborts, whichever is first (the rejection of `p` is kept). */
function untilAborted(p: Promise<unknown>, signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

type StartedRotation = RotationState & { readonly started: RotationStarted['data'] };
const isStarted = (state: RotationState): state is StartedRotation => state.started !== null;

/** Key activation reasons are bounded like every stored reason. */
const MAX_ACTIVATION_REASON = 1100;

export class RotationProcess {
  constructor(
    private readonly deps: RotationProcessDeps,
    private readonly steps: CeremonySteps,
    private readonly resigner: Resigner,
    private readonly keys: Pick<PendingKeys, 'discard'>,
  ) {}

  /** Runs (or continues) the rotation an approved ceremony with `action` started; stops between steps once `signal` aborts. */
  async run(ceremony: OpenedCeremony, action: RotationAction, signal: AbortSignal): Promise<void> {
    const rotation = await this.transition(ceremony, action);
    if (rotation) await this.finish(ceremony, rotation, signal);
  }

  /**
   * Steps 1–4, the part that changes keys and anchors (the executor runs it while no other
   * ceremony changes them): answers the rotation's state, or undefined when it was superseded.
   */
  async transition(ceremony: OpenedCeremony, action: RotationAction): Promise<StartedRotation | undefined> {
    const begun = await this.start(ceremony, action);
    if (!begun) return undefined;
    const { started } = begun;
    const keyring = await this.switchKeys(ceremony, action, started.startedAt);
    const rotation = action.newKey && !begun.transition ? await this.attestTransition(ceremony, started, keyring) : begun;

    // An executed ceremony published its anchors before it was marked executed: only re-signing is left.
    if (ceremony.state !== 'executed') {
      await this.steps.publishAnchors(ceremony);
      await this.steps.markExecuted(ceremony, { rotationId: started.rotationId, oldKeyId: started.oldKeyId, newKeyId: started.newKeyId });
      this.deps.logger.info({ rotationId: started.rotationId, oldKeyId: started.oldKeyId, newKeyId: started.newKeyId }, 'key transition done; re-signing');
    }
    return { ...rotation, started };
  }

  /** Steps 5 and 6 (re-signing, completion) of a rotation `transition` answered. */
  async finish(ceremony: OpenedCeremony, rotation: StartedRotation, signal: AbortSignal): Promise<void> {
    if (!rotation.completed) await this.resignAndComplete(ceremony, rotation.started, signal);
  }

  private runRotation(ceremony: OpenedCeremony, rotationId: string, command: RotationCommand) {
    return handleCommand(this.deps, rotationStream(rotationId), rotationDecider, command, { metadata: this.steps.metadata(ceremony), waitForProjections: true });
  }

  /** Step 1: the rotation's state once started; undefined when another rotation already replaced the key (the ceremony is then executed as superseded). */
  private async start(ceremony: OpenedCeremony, action: RotationAction): Promise<StartedRotation | undefined> {
    const { rotationId } = action;
    const current = await loadState(this.deps.store, rotationStream(rotationId), rotationDecider);
    if (isStarted(current)) return current;
    const keyring = await this.deps.keyring.state();
    const successor = action.newKey?.keyId ?? keyring.activeKeyId;
    if (successor === null) throw new LedgerError('no_active_key', 'no signing key is active');
    if (action.type === 'rotate-key' && keyring.activeKeyId !== action.keyId) {
      // This ceremony itself, run by another instance, may have started and switched the keys
      // since the rotation stream was read: only another rotation's key means superseded.
      const again = await loadState(this.deps.store, rotationStream(rotationId), rotationDecider);
      if (isStarted(again)) return again;
      if (keyring.activeKeyId === action.newKey.keyId || keyring.keys[action.newKey.keyId] !== undefined) {
        throw new LedgerError('key_state_conflict', `rotation ${rotationId}: its incoming key is registered but the rotation has not started`, { reason: 'rotation_inconsistent' });
      }
      // Another rotation replaced the key this ceremony was about: nothing is left to rotate.
      this.deps.logger.warn({ ceremonyId: ceremony.ceremonyId, rotationId, keyId: action.keyId, active: keyring.activeKeyId }, 'rotation superseded: its outgoing key is no longer active');
      await this.steps.markExecuted(ceremony, { rotationId, superseded: 1 });
      await this.keys.discard(action.newKey, 'superseded');
      return undefined;
    }
    const startedAt = wholeSecond(this.deps.now()).toISOString();
    const { state } = await this.runRotation(ceremony, rotationId, {
      type: 'StartRotation',
      rotationId,
      ceremonyId: ceremony.ceremonyId,
      kind: action.type === 'rotate-key' ? 'rotate' : 'revoke',
      oldKeyId: action.keyId,
      newKeyId: successor,
      reason: ceremony.proposal.reason,
      resignSince: action.type === 'revoke-key' ? (action.compromisedSince ?? startedAt) : null,
      startedAt,
    });
    if (!isStarted(state)) throw new LedgerError('internal', `rotation ${rotationId} did not start`);
    return state;
  }

  /** Step 2: the incoming key registered and activated at T (retiring the outgoing one), the revoked key revoked. */
  private async switchKeys(ceremony: OpenedCeremony, action: RotationAction, T: string): Promise<KeyringState> {
    const commands: KeyringCommand[] = [];
    const before = await this.deps.keyring.state();
    const k = action.newKey;
    // Only a key still waiting for its ceremony is activated (a resumed rotation may find it done, or superseded).
    const status = k ? before.keys[k.keyId]?.status : undefined;
    if (k && (status === undefined || status === 'generated')) {
      commands.push({ type: 'RegisterKey', keyId: k.keyId, publicKey: k.publicKey, backend: k.backend, ref: k.ref, label: 'signing', time: T });
      commands.push({ type: 'ActivateKey', keyId: k.keyId, reason: `${action.type}: ${ceremony.proposal.reason}`.slice(0, MAX_ACTIVATION_REASON), time: T });
    }
    if (action.type === 'revoke-key') {
      commands.push({ type: 'RevokeKey', keyId: action.keyId, reason: ceremony.proposal.reason, time: T, ...(action.compromisedSince ? { compromisedSince: action.compromisedSince } : {}) });
    }
    const { state } = await handleCommands(this.deps, KEYRING_STREAM, keyringDecider, commands, { metadata: this.steps.metadata(ceremony), waitForProjections: true });
    await this.deps.keyring.refresh(state);
    return state;
  }

  /** Step 3: the key transition attestation, signed by the outgoing and the incoming key, with the approvals that authorised it. */
  private async attestTransition(ceremony: OpenedCeremony, started: RotationStarted['data'], keyring: KeyringState): Promise<RotationState> {
    const oldEntry = keyring.keys[started.oldKeyId];
    const newEntry = keyring.keys[started.newKeyId];
    if (!oldEntry || !newEntry) throw new LedgerError('key_not_found', `rotation ${started.rotationId} names a key the registry does not hold`);
    const transitionAt = newEntry.validFor.start ?? started.startedAt;
    const publicKeys = new Map(ceremony.approvers.map((a) => [a.approverId, a.publicKey]));
    const approved = new Set(ceremony.approverIds);
    const statement = keyTransitionStatement({
      oldKeyId: oldEntry.keyId,
      newKeyId: newEntry.keyId,
      oldPublicKey: oldEntry.publicKey,
      newPublicKey: newEntry.publicKey,
      transitionAt,
      reason: ceremony.proposal.reason,
      rotationId: started.rotationId,
      ceremonyId: ceremony.ceremonyId,
      proposal: ceremony.proposal,
      proposalDigest: ceremony.proposalDigest,
      threshold: ceremony.threshold,
      approvals: ceremony.approvals.filter((a) => approved.has(a.approverId)).map((a) => ({ approverId: a.approverId, publicKey: publicKeys.get(a.approverId) ?? '', signature: a.signature })),
    });
    const [oldHandle, newHandle] = await Promise.all([this.deps.keyring.handle(oldEntry), this.deps.keyring.handle(newEntry)]);
    const envelope = await signEnvelope(ATTESTATION_PAYLOAD_TYPE, jcsBytes(statement), [
      { keyId: oldEntry.keyId, sign: (m) => oldHandle.sign(m) },
      { keyId: newEntry.keyId, sign: (m) => newHandle.sign(m) },
    ]);
    // The incoming key's signature is the one timestamped: it proves the new key existed then.
    const timestamp = await this.deps.tsa.timestampSignature(Buffer.from(envelope.signatures[1]!.sig, 'base64'));
    const { state } = await this.runRotation(ceremony, started.rotationId, {
      type: 'AttestTransition',
      rotationId: started.rotationId,
      oldKeyId: oldEntry.keyId,
      newKeyId: newEntry.keyId,
      transitionAt,
      envelope: envelopeJson(envelope),
      timestamps: [timestamp],
    });
    return state;
  }

  /**
   * Waits until the log has folded everything committed so far and a checkpoint covers its
   * content leaves (checkpoints are leaves too, but none is published for those alone).
   */
  private async awaitCoveringCheckpoint(): Promise<void> {
    if (!this.deps.log) return;
    await this.deps.runtime?.waitFor(await this.deps.store.headPosition());
    await this.deps.log.waitForCheckpoint(this.deps.log.reader.state().contentSize, COVERING_CHECKPOINT_TIMEOUT_MS);
  }

  /** Steps 5 and 6: re-sign what the outgoing key signed, then complete (unless stopped first). */
  private async resignAndComplete(ceremony: OpenedCeremony, started: RotationStarted['data'], signal: AbortSignal): Promise<void> {
    const { rotationId } = started;
    const totals = await this.resigner.resignAll(
      { rotationId, ceremonyId: ceremony.ceremonyId, oldKeyId: started.oldKeyId, newKeyId: started.newKeyId, reason: ceremony.proposal.reason, since: started.resignSince },
      signal,
    );
    if (signal.aborted) return;
    await untilAborted(this.awaitCoveringCheckpoint(), signal);
    if (signal.aborted) return;
    // The read model counts every instance's re-signings; this instance's totals only its own.
    const summary = ceremoniesProjection.rotation(this.deps.readModel, rotationId);
    await this.runRotation(ceremony, rotationId, {
      type: 'CompleteRotation',
      rotationId,
      resigned: summary?.resigned ?? totals.resigned,
      failed: summary?.failed ?? totals.failed,
      completedAt: this.steps.time(),
    });
    this.deps.metrics?.rotationRemaining.set({ rotation: rotationId }, 0);
    this.deps.logger.info({ rotationId, resigned: summary?.resigned, failed: summary?.failed }, 'rotation completed');
  }
}
