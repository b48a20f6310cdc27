import type { AppContext } from '@devicegate/server';

type LimitName = Parameters<AppContext['rateLimits']['consume']>[0];

/**
 * Spends one point in each bucket; returns the wait of the longest refusal, or null when every
 * bucket allowed the attempt. Every bucket is charged even when an earlier one refused, so a
 * guesser cannot spread attempts to dodge one of them. (The rate-limit service records the first
 * refusal of a window as an audit event.)
 */
export async function consumeAll(
  rateLimits: AppContext['rateLimits'],
  buckets: Array<[LimitName, string]>,
  address: string,
): Promise<number | null> {
  let wait: number | null = null;
  for (const [name, key] of buckets) {
    const verdict = await rateLimits.consume(name, key, { fields: { address } });
    if (!verdict.allowed) wait = Math.max(wait ?? 1, verdict.retryAfterSeconds);
  }
  return wait;
}
