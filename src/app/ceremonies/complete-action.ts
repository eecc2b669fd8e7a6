/**
 * Completes a validated ceremony request into the action approvers will sign: the parameters the
 * caller gave plus what the server decides (the rotation id, the outgoing key, an incoming key
 * generated now in the key store — activated only if the ceremony executes — and the approver id
 * of an enrolment). What depends on the ledger's state is checked here: the key to revoke is
 * published and not revoked yet, the approver to enrol is new, the one to remove is enrolled.
 */
import type { CeremonyAction, CeremonyActionType, IncomingKey } from '../../domain/ceremony-action.ts';
import { parseRfc3339 } from '../../domain/instant.ts';
import { LedgerError } from '../../errors.ts';
import type { KeyStore } from '../../store/key-store.ts';
import type { KeyringService } from '../keys/keyring-service.ts';
import type { ApproversService } from '../trust/approvers-service.ts';
import type { CeremonyParams } from './ceremony-request.ts';

export interface CompletionDeps {
  readonly keyring: KeyringService;
  readonly keyStore: KeyStore;
  readonly approvers: ApproversService;
  readonly now: () => Date;
}

/** `draft`: an incoming key is a placeholder (nothing is generated), to decide on before any key exists. */
export type CompletionMode = 'draft' | 'final';

type Completer<T extends CeremonyActionType> = (deps: CompletionDeps, params: CeremonyParams[T], rotationId: string, mode: CompletionMode) => Promise<Extract<CeremonyAction, { type: T }>>;

const PLACEHOLDER_KEY_ID = '0'.repeat(64);

async function newKey(deps: CompletionDeps, rotationId: string, mode: CompletionMode): Promise<IncomingKey> {
  if (mode === 'draft') return { keyId: PLACEHOLDER_KEY_ID, publicKey: 'draft', backend: deps.keyStore.backend, ref: 'draft' };
  const generated = await deps.keyStore.generate(`sigledger-signing-${rotationId}`);
  return { keyId: generated.keyId, publicKey: generated.publicKeySpki.toString('base64'), backend: deps.keyStore.backend, ref: generated.ref };
}

const enrolled = async (deps: CompletionDeps, approverId: string): Promise<boolean> => (await deps.approvers.list()).some((a) => a.approverId === approverId);

const COMPLETERS: { readonly [T in CeremonyActionType]: Completer<T> } = {
  'rotate-key': async (deps, _params, rotationId, mode) => {
    const keyring = await deps.keyring.state();
    if (keyring.activeKeyId === null) throw new LedgerError('no_active_key', 'no signing key is active');
    return { type: 'rotate-key', rotationId, keyId: keyring.activeKeyId, newKey: await newKey(deps, rotationId, mode) };
  },
  'revoke-key': async (deps, { keyId, compromisedSince }, rotationId, mode) => {
    const keyring = await deps.keyring.state();
    const entry = keyring.keys[keyId];
    if (!entry || entry.status === 'generated') throw new LedgerError('key_not_found', `no published key ${keyId}`);
    if (entry.status === 'revoked') throw new LedgerError('key_state_conflict', `key ${keyId} is already revoked`, { reason: 'already_revoked' });
    if (compromisedSince !== undefined && (parseRfc3339(compromisedSince) ?? Infinity) > deps.now().getTime()) {
      throw new LedgerError('invalid_request', 'action.compromisedSince must be an RFC 3339 instant in the past', { reason: 'invalid_compromised_since', field: 'action.compromisedSince' });
    }
    // Revoking the active key hands signing to a new key, which the approvers see in the proposal.
    const successor = keyring.activeKeyId === keyId ? { newKey: await newKey(deps, rotationId, mode) } : {};
    return { type: 'revoke-key', rotationId, keyId, ...(compromisedSince !== undefined ? { compromisedSince } : {}), ...successor };
  },
  'update-anchors': async (_deps, { thresholds }) => (thresholds === undefined ? { type: 'update-anchors' } : { type: 'update-anchors', thresholds }),
  'enroll-approver': async (deps, { publicKey, approverId }) => {
    if (await enrolled(deps, approverId)) throw new LedgerError('key_state_conflict', `approver ${approverId} is already enrolled`, { reason: 'already_enrolled' });
    return { type: 'enroll-approver', approverId, publicKey };
  },
  'remove-approver': async (deps, { approverId }) => {
    if (!(await enrolled(deps, approverId))) throw new LedgerError('not_found', `no enrolled approver ${approverId}`);
    return { type: 'remove-approver', approverId };
  },
};

/** The full action for a validated request (server-side parameters included). */
export function completeAction<T extends CeremonyActionType>(deps: CompletionDeps, type: T, params: CeremonyParams[T], rotationId: string, mode: CompletionMode = 'final'): Promise<Extract<CeremonyAction, { type: T }>> {
  return COMPLETERS[type](deps, params, rotationId, mode);
}
