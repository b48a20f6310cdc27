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
 * ends, during which code entry is tightened (see user-code-entry.ts). The counter is built by the
 * same limiter factory as the rate limits, so several instances share it when their limits are
 * shared.
 */
export interface UserCodeGuessAlarm {
  /** Counts one failed user code entry. */
  recordFailure(): Promise<void>;
  /** True while the current window is over the threshold. */
  active(): Promise<boolean>;
}

const GLOBAL_KEY = 'all';

export function createUserCodeGuessAlarm(deps: {
  makeLimiter: LimiterFactory;
  rule: { threshold: number; duration: number };
  audit: AuditLog;
  logger: Logger;
}): UserCodeGuessAlarm {
  const { threshold, duration } = deps.rule;
  const counter = deps.makeLimiter({ name: 'userCodeFailuresGlobal', points: threshold, duration });
  // Known locally until then, so an active alarm costs no store round trip per entry.
  let activeUntil = 0;

  return {
    async recordFailure() {
      try {
        await counter.consume(GLOBAL_KEY, 1);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) {
          deps.logger.error({ err: rejection }, 'user code failure counter unavailable');
          return;
        }
        activeUntil = Math.max(activeUntil, Date.now() + rejection.msBeforeNext);
        // The one failure that crossed the threshold raises the alarm; later ones in the window do not.
        if (rejection.consumedPoints === threshold + 1) {
          deps.audit.record('user_code_guess_alarm', { failures: rejection.consumedPoints, threshold, windowSeconds: duration });
          deps.logger.error(
            { event: 'user_code_guess_alarm', failures: rejection.consumedPoints, threshold, windowSeconds: duration },
            'user code guessing across many addresses: more failed codes than the alarm threshold; code entry tightened',
          );
        }
      }
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
  };
}
