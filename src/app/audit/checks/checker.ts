/**
 * What every audit-replay checker shares: the event it is fed (with the stored canonical text
 * when the store keeps it) and the one way it reports a problem. The driver (../replay.ts) reads
 * the history once and hands each event to every checker in a fixed order, so a checker sees the
 * history exactly as of that event.
 */
import type { RecordedEvent } from '../../../store/event-store.ts';

export type ReplayCheck = 'chain' | 'signatures' | 'checkpoints' | 'ceremonies' | 'anchors' | 'read-models';

export interface ReplayProblem {
  readonly position: number;
  readonly check: ReplayCheck;
  readonly message: string;
}

/** Records a problem at `position`; checkers never throw for a bad history, they report. */
export type ReportProblem = (position: number, check: ReplayCheck, message: string) => void;

/** One event of the history as read by the driver. */
export interface HistoryEntry {
  readonly event: RecordedEvent;
  /** The canonical JSON the store wrote (SQLite); undefined when the store cannot hand it out. */
  readonly dataJson: string | undefined;
  readonly metadataJson: string | undefined;
}

/** Something fed every event of the history, in global order. */
export interface HistoryChecker {
  observe(entry: HistoryEntry): void;
}
