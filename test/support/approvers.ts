/** Approvals made the way `sigledger approve` makes them, with the dev approver key files. */
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { devApproverPath } from '../../src/app/trust/approvers-service.ts';
import { keyIdOf } from '../../src/crypto/ed25519.ts';
import { approvalMessage, type CeremonyProposal } from '../../src/domain/ceremony.ts';

/** The private key of dev approver `n` (1..3) of a data dir. */
export const devApproverKey = (dataDir: string, n: number): KeyObject => createPrivateKey(readFileSync(devApproverPath(dataDir, n), 'utf8'));

/** `{approverId, signature}` by `key` over the proposal's DSSE PAE: the body of POST …/approvals. */
export function approvalBy(key: KeyObject, proposal: CeremonyProposal): { approverId: string; signature: string } {
  return { approverId: keyIdOf(createPublicKey(key).export({ format: 'der', type: 'spki' })), signature: sign(null, approvalMessage(proposal), key).toString('base64') };
}

/** The approver id (key id) of dev approver `n` of a data dir. */
export const devApproverId = (dataDir: string, n: number): string => keyIdOf(createPublicKey(devApproverKey(dataDir, n)).export({ format: 'der', type: 'spki' }));

/** The approval of dev approver `n` of a data dir. */
export const devApproval = (dataDir: string, n: number, proposal: CeremonyProposal) => approvalBy(devApproverKey(dataDir, n), proposal);
