/**
 * What a client can prove about a server's token bucket and concurrency limit from its own clock.
 *
 * The client knows, per request, when it sent it and when it had the whole answer; the server
 * checked the quota at some instant in between, on the same clock (same machine, Date.now in
 * both processes). Replaying send times through a bucket (what the soak did before) assumes the
 * check happens at the send instant, so on a loaded machine, where requests wait in queues and
 * overtake each other, correct refusals looked unexplained. These checks instead use only what is
 * certain: a request X was admitted at some a_X with sentAt_X <= a_X <= answeredAt_X, and it held
 * its concurrency slot no longer than until answeredAt_X. They are sound (a server that applies
 * the plan never fails them, however slow it is) and as tight as the latencies allow (exact for
 * instant answers).
 */

export interface Exchange {
  /** Client clock (epoch ms) just before the request was sent. */
  readonly sentAt: number;
  /** Client clock (epoch ms) once the whole answer was read. */
  readonly answeredAt: number;
  readonly status: number;
  /** The problem `code` of a 429. */
  readonly code?: string;
}

export interface BucketPlan {
  /** Refill rate, tokens per second. */
  readonly qps: number;
  /** Bucket capacity. */
  readonly burst: number;
  /** Requests in flight at once. */
  readonly concurrency: number;
}

/** Float rounding in the server's incremental refill; far below one token. */
const EPSILON = 1e-6;

/** Every answer but a 429 took a token and a slot (the quota is checked before anything else can fail). */
const admittedOf = (exchanges: readonly Exchange[]): Exchange[] => exchanges.filter((x) => x.status !== 429);

/**
 * A rate refusal of R at server time s means the bucket held under one token: for some u <= s,
 * burst + qps·(s − u) − (admissions in (u, s]) < 1. Every admission in (u, s] is of a request sent
 * by answeredAt_R and answered after u; taking u just below the earliest such answer and s at its
 * earliest possible value (sentAt_R) can only lower the level, so some admitted X gives
 * burst + qps·max(0, sentAt_R − answeredAt_X) − #{admitted Y: sentAt_Y <= answeredAt_R, answeredAt_Y >= answeredAt_X} < 1.
 */
function rateRefusalPossible(r: Exchange, admitted: readonly Exchange[], plan: BucketPlan): boolean {
  const candidates = admitted.filter((x) => x.sentAt <= r.answeredAt).map((x) => x.answeredAt);
  candidates.sort((a, b) => b - a);
  for (let i = 0; i < candidates.length; i++) {
    // With ties, the last of them counts them all; earlier ones only undercount (a higher level).
    const level = plan.burst + (plan.qps * Math.max(0, r.sentAt - candidates[i]!)) / 1000 - (i + 1);
    if (level < 1 + EPSILON) return true;
  }
  return false;
}

/** A concurrency refusal needs `concurrency` admitted requests whose [sentAt, answeredAt] overlap R's. */
function concurrencyRefusalPossible(r: Exchange, admitted: readonly Exchange[], plan: BucketPlan): boolean {
  let overlapping = 0;
  for (const x of admitted) if (x.sentAt <= r.answeredAt && x.answeredAt >= r.sentAt) overlapping++;
  return overlapping >= plan.concurrency;
}

/** The 429s the plan cannot explain: a rate or concurrency refusal that was impossible, or any other 429 code. */
export function unexplainedRefusals(exchanges: readonly Exchange[], plan: BucketPlan): Exchange[] {
  const admitted = admittedOf(exchanges);
  return exchanges.filter((r) => {
    if (r.status !== 429) return false;
    if (r.code === 'rate_limited') return !rateRefusalPossible(r, admitted, plan);
    if (r.code === 'concurrency_limited') return !concurrencyRefusalPossible(r, admitted, plan);
    return true;
  });
}

export interface OverAdmission {
  readonly from: number;
  readonly to: number;
  readonly admitted: number;
  readonly allowed: number;
}

/**
 * The other direction: requests sent at or after `from` and answered by `to` were admitted inside
 * [from, to], where a bucket yields at most burst + qps·(to − from) tokens. Checked for every
 * window that starts at one of `starts` and ends at an answer; returns the windows that admitted more.
 */
export function overAdmissions(exchanges: readonly Exchange[], plan: BucketPlan, starts: readonly number[]): OverAdmission[] {
  const admitted = admittedOf(exchanges);
  const out: OverAdmission[] = [];
  for (const from of new Set(starts)) {
    const ends = admitted.filter((x) => x.sentAt >= from).map((x) => x.answeredAt);
    ends.sort((a, b) => a - b);
    for (let i = 0; i < ends.length; i++) {
      // With ties, the last of them counts them all.
      if (i + 1 < ends.length && ends[i + 1] === ends[i]) continue;
      const allowed = plan.burst + (plan.qps * (ends[i]! - from)) / 1000;
      if (i + 1 > allowed + EPSILON) out.push({ from, to: ends[i]!, admitted: i + 1, allowed });
    }
  }
  return out;
}
