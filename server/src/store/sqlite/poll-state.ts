import { judgePoll } from '../../device-grants/pacing.ts';
import type { DeviceGrantRecord, PollVerdict } from '../types.ts';

/**
 * Poll accounting of the SQLite store, kept in this process instead of written per poll; the
 * rule itself (RFC 8628 §3.5) is ../../device-grants/pacing.ts. An UPDATE of a random row for
 * every poll was a quarter of a poll's CPU time (measured with bench/), and a client flooding the
 * token endpoint turned into as many database writes.
 *
 * What it keeps per polled grant: the time of the last poll (memory only: a restart forgets it,
 * so the first poll after a restart is never slow_down, which costs nothing) and the interval as
 * grown by slow_down, which is also handed to `persistInterval` (inside the caller's
 * transaction) so that it stays grown across a restart. Reads of device grants through the store are overlaid with it, so everyone sees the
 * grown interval at once. SQLite serves one appliance process (the CLI beside it never polls);
 * the PostgreSQL store shares this state between instances through its rows instead.
 */
export interface PollState {
  /** The verdict for a poll of `grant` (as read from the database) at `now`. */
  record(grant: DeviceGrantRecord, now: number): PollVerdict;
  /** The grant with the poll state of this process applied. */
  overlay(grant: DeviceGrantRecord): DeviceGrantRecord;
  /** Forgets grants that expired before `now`. */
  prune(now: number): void;
}

/** Past this many tracked grants, expired ones are pruned on the next poll. */
const PRUNE_ABOVE = 50_000;

export function createPollState(deps: { persistInterval: (deviceCodeHash: string, interval: number) => void }): PollState {
  const polls = new Map<string, { lastPolledAt: number; interval: number; expiresAt: number }>();
  let pruneAbove = PRUNE_ABOVE;

  function prune(now: number): void {
    for (const [hash, entry] of polls) if (entry.expiresAt <= now) polls.delete(hash);
  }

  return {
    record(grant, now) {
      const entry = polls.get(grant.deviceCodeHash);
      const { slowDown, interval } = judgePoll(
        { status: grant.status, interval: Math.max(grant.interval, entry?.interval ?? 0), lastPolledAt: entry?.lastPolledAt ?? null },
        now,
      );
      if (polls.size >= pruneAbove) {
        prune(now);
        // Many live grants: prune again only after as many more, not on every poll.
        pruneAbove = Math.max(PRUNE_ABOVE, polls.size * 2);
      }
      polls.set(grant.deviceCodeHash, { lastPolledAt: now, interval, expiresAt: grant.expiresAt });
      if (slowDown) deps.persistInterval(grant.deviceCodeHash, interval);
      return { kind: slowDown ? 'slow_down' : 'ok', grant: { ...grant, interval, lastPolledAt: now } };
    },
    overlay(grant) {
      const entry = polls.get(grant.deviceCodeHash);
      if (entry === undefined) return grant;
      return { ...grant, interval: Math.max(grant.interval, entry.interval), lastPolledAt: entry.lastPolledAt };
    },
    prune,
  };
}
