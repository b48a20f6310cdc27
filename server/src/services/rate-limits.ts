import { RateLimiterMemory, type RateLimiterAbstract } from 'rate-limiter-flexible';

/**
 * Abuse limits, one named bucket per concern, on `rate-limiter-flexible` (maintained; memory now,
 * and the same API over PostgreSQL or Redis when several instances must share counters).
 * Defaults are generous for people and devices, tight for guessers.
 */
export type LimitName =
  | 'deviceAuthorizationPerClientAndAddress'
  | 'userCodeEntryPerAddress'
  | 'userCodeEntryPerSession'
  | 'signInPerAccount'
  | 'signInPerAddress'
  | 'tokenPerAddress';

export interface LimitRule {
  points: number;
  /** Window in seconds. */
  duration: number;
}

export const defaultLimitRules: Record<LimitName, LimitRule> = {
  // A device asks once per sign-in; 30 a minute per client and address stops code-space floods.
  deviceAuthorizationPerClientAndAddress: { points: 30, duration: 60 },
  // RFC 8628 §5.1: user code guesses are limited (10 a minute, per address and per session).
  userCodeEntryPerAddress: { points: 10, duration: 60 },
  userCodeEntryPerSession: { points: 10, duration: 60 },
  // Password guessing: 5 per account per 5 minutes, 20 per address.
  signInPerAccount: { points: 5, duration: 300 },
  signInPerAddress: { points: 20, duration: 300 },
  // Polls are throttled by slow_down; this only stops a runaway client from one address.
  tokenPerAddress: { points: 600, duration: 60 },
};

export interface LimitVerdict {
  allowed: boolean;
  retryAfterSeconds: number;
}

export interface RateLimits {
  /** Spends one point; `allowed: false` once the bucket is empty. */
  consume(name: LimitName, key: string): Promise<LimitVerdict>;
  /** Forgets a key (e.g. after a successful sign-in). */
  reset(name: LimitName, key: string): Promise<void>;
}

export function createRateLimits(
  rules: Partial<Record<LimitName, LimitRule>> = {},
  makeLimiter: (name: LimitName, rule: LimitRule) => RateLimiterAbstract = (name, rule) =>
    new RateLimiterMemory({ keyPrefix: name, points: rule.points, duration: rule.duration }),
): RateLimits {
  const limiters = new Map<LimitName, RateLimiterAbstract>();
  const limiter = (name: LimitName) => {
    let found = limiters.get(name);
    if (!found) {
      found = makeLimiter(name, { ...defaultLimitRules[name], ...rules[name] });
      limiters.set(name, found);
    }
    return found;
  };
  return {
    async consume(name, key) {
      try {
        await limiter(name).consume(key);
        return { allowed: true, retryAfterSeconds: 0 };
      } catch (rejection) {
        if (rejection instanceof Error) throw rejection;
        const msBeforeNext = (rejection as { msBeforeNext?: number }).msBeforeNext ?? 1000;
        return { allowed: false, retryAfterSeconds: Math.ceil(msBeforeNext / 1000) };
      }
    },
    async reset(name, key) {
      await limiter(name).delete(key);
    },
  };
}
