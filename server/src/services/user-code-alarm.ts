import type { Logger } from 'pino';
import { RateLimiterRes } from 'rate-limiter-flexible';
import type { AuditLog } from './audit.ts';
import type { LimiterFactory } from './rate-limits.ts';

/**
 * The global alarm on user code guessing (RFC 8628 §5.1; docs/security.md CODE-GUESSING).
 * Per-address and per-session limits stop one guesser; a botnet spreads its guesses over thousands
 * of addresses, each under its own limit. So failed user codes are also counted across all
 * addresses: when a window holds more than `threshold` failures, the alarm fires once for that
 * window (audit event `user_code_guess_alarm`, error-level log) and stays active until the window
 * ends, during which code entry is tightened (see user-code-entry.ts). At `maxFailures` failures
 * code entry is closed until the window ends: the cap on the total. The counter is built by the
 * same limiter factory as the rate limits, so several instances share it when their limits are
 * shared.
 */
export interface UserCodeGuessAlarm {
  /** Counts one failed user code entry. */
  recordFailure(): Promise<void>;
  /** True while the current window is over the threshold. */
  active(): Promise<boolean>;
  /** Seconds until code entry opens again when the window holds `maxFailures` failures, else null. */
  closedFor(): Promise<number | null>;
}

const GLOBAL_KEY = 'all';

export function createUserCodeGuessAlarm(deps: {
  makeLimiter: LimiterFactory;
  rule: { threshold: number; duration: number; maxFailures?: number };
  audit: AuditLog;
  logger: Logger;
}): UserCodeGuessAlarm {
  const { threshold, duration } = deps.rule;
  const maxFailures = deps.rule.maxFailures ?? Number.POSITIVE_INFINITY;
  const counter = deps.makeLimiter({ name: 'userCodeFailuresGlobal', points: threshold, duration });
  // Known locally until then, so an active alarm costs no store round trip per entry.
  let activeUntil = 0;
  let closedUntil = 0;

  return {
    async recordFailure() {
      let counted: RateLimiterRes;
      try {
        counted = await counter.consume(GLOBAL_KEY, 1);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) {
          deps.logger.error({ err: rejection }, 'user code failure counter unavailable');
          return;
        }
        counted = rejection;
      }
      const failures = counted.consumedPoints;
      if (failures <= threshold && failures < maxFailures) return;
      const windowEnds = Date.now() + counted.msBeforeNext;
      if (failures > threshold) activeUntil = Math.max(activeUntil, windowEnds);
      if (failures >= maxFailures) closedUntil = Math.max(closedUntil, windowEnds);
      // The one failure that crossed the threshold raises the alarm; later ones in the window do not.
      if (failures === threshold + 1) {
        deps.audit.record('user_code_guess_alarm', { failures, threshold, windowSeconds: duration });
        deps.logger.error(
          { event: 'user_code_guess_alarm', failures, threshold, windowSeconds: duration },
          'user code guessing across many addresses: more failed codes than the alarm threshold; code entry tightened',
        );
      }
      // Recorded at error level (services/audit.ts): people cannot enter codes until the window ends.
      if (failures === maxFailures) deps.audit.record('user_code_entry_closed', { failures, maxFailures, windowSeconds: duration });
    },
    async active() {
      if (activeUntil > Date.now()) return true;
      try {
        const state = await counter.get(GLOBAL_KEY);
        if (state && state.consumedPoints > threshold) {
          activeUntil = Date.now() + Math.max(0, state.msBeforeNext);
          return true;
        }
      } catch (error) {
        deps.logger.error({ err: error }, 'user code failure counter unavailable');
      }
      return false;
    },
    async closedFor() {
      const now = Date.now();
      if (closedUntil > now) return Math.max(1, Math.ceil((closedUntil - now) / 1000));
      if (maxFailures === Number.POSITIVE_INFINITY) return null;
      try {
        // Another instance sharing the counter may have reached the cap.
        const state = await counter.get(GLOBAL_KEY);
        if (state && state.consumedPoints >= maxFailures) {
          closedUntil = now + Math.max(0, state.msBeforeNext);
          return Math.max(1, Math.ceil(state.msBeforeNext / 1000));
        }
      } catch (error) {
        deps.logger.error({ err: error }, 'user code failure counter unavailable');
      }
      return null;
    },
  };
}
