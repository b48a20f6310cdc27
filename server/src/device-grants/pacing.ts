import type { DeviceGrantStatus } from '../store/types.ts';

/**
 * The device grant's pacing rule (RFC 8628 §3.5), the one place it is written. A device polls the
 * token endpoint at most once per `interval` seconds; a poll that comes sooner answers slow_down
 * and grows the interval by 5 seconds, for good. Two additions of ours:
 * - a poll up to POLL_TOLERANCE_MS early still counts as in time (timer and network jitter);
 * - only a pending grant is throttled: a device told of its outcome by push redeems at once.
 * The first poll of a grant is never slow_down, however soon after the authorization it comes.
 *
 * The SQLite store judges each poll in JavaScript (`judgePoll`); the PostgreSQL store judges it
 * inside its one UPDATE per poll (`pollSql`), so several instances sharing a row take turns on
 * it. Both are derived from the constants below, and test/store/store-contract.ts checks that
 * both stores give the verdicts `judgePoll` gives.
 */

/** RFC 8628 §3.5: every slow_down adds 5 seconds to the interval, for good. */
export const SLOW_DOWN_STEP_SECONDS = 5;

/** Timer and network jitter: a poll this much early still counts as in time. */
export const POLL_TOLERANCE_MS = 250;

/** What the rule reads of a grant at a poll. */
export interface PollPacing {
  status: DeviceGrantStatus;
  /** The current interval in seconds. */
  interval: number;
  /** The previous poll's time; null when this is the first poll. */
  lastPolledAt: number | null;
}

export interface PollJudgement {
  slowDown: boolean;
  /** The interval after this poll: grown by the step on slow_down, else unchanged. */
  interval: number;
}

/** The verdict for a poll at `now` of a grant in the state `pacing`. */
export function judgePoll(pacing: PollPacing, now: number): PollJudgement {
  const { status, interval, lastPolledAt } = pacing;
  const inTime = status !== 'pending' || lastPolledAt === null || now - lastPolledAt >= interval * 1000 - POLL_TOLERANCE_MS;
  return inTime ? { slowDown: false, interval } : { slowDown: true, interval: interval + SLOW_DOWN_STEP_SECONDS };
}

/**
 * The same rule as SQL expressions over a device grant row, for a one-statement UPDATE: `slowDown`
 * is a boolean, `interval` the interval after this poll. `columns` name the row's columns (as they
 * were before this poll, which is what every SET expression of an UPDATE reads) and `now` the
 * poll's time (a bigint parameter such as `$2::bigint`).
 */
export function pollSql(
  columns: { status: string; interval: string; lastPolledAt: string },
  now: string,
): { slowDown: string; interval: string } {
  const { status, interval, lastPolledAt } = columns;
  const inTime = `(${status} <> 'pending' OR ${lastPolledAt} IS NULL
    OR ${now} - ${lastPolledAt} >= ${interval}::bigint * 1000 - ${POLL_TOLERANCE_MS})`;
  return {
    slowDown: `NOT ${inTime}`,
    interval: `CASE WHEN ${inTime} THEN ${interval} ELSE ${interval} + ${SLOW_DOWN_STEP_SECONDS} END`,
  };
}
