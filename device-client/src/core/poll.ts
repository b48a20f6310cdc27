import { abortedError, DeviceClientError } from './errors.ts';
import type { LoginEvent } from './events.ts';
import { describeOAuthError, retryAfterSeconds, type HttpOutcome } from './http.ts';
import { backoffDelay, type Runtime } from './runtime.ts';
import { parseTokenResponse, type TokenSet } from './tokens.ts';

/** Longest wait between retries after network failures or 5xx answers. */
const RETRY_CAP_MS = 60_000;
/** RFC 8628 §3.5: "the interval MUST be increased by 5 seconds for this and all subsequent requests". */
const SLOW_DOWN_STEP_MS = 5_000;

/** Lets a push message cut a wait short: "the outcome is known, make one token request now". */
export interface Wake {
  request(): void;
  /** Forgets a request made before the token request now going out (which answers it). */
  clear(): void;
  /** Sleeps up to `ms`; true when woken by request() (now or before). */
  sleep(ms: number, signal?: AbortSignal): Promise<boolean>;
}

export function createWake(runtime: Pick<Runtime, 'sleep'>): Wake {
  let pending = false;
  let wakeUp: (() => void) | undefined;
  return {
    request() {
      pending = true;
      wakeUp?.();
    },
    clear() {
      pending = false;
    },
    async sleep(ms, signal) {
      if (!pending) {
        const local = new AbortController();
        const woken = new Promise<void>((resolve) => (wakeUp = resolve));
        const combined = signal ? AbortSignal.any([signal, local.signal]) : local.signal;
        await Promise.race([runtime.sleep(ms, combined), woken]);
        local.abort();
        wakeUp = undefined;
      }
      const wasWoken = pending;
      pending = false;
      return wasWoken;
    },
  };
}

export interface PollOptions {
  runtime: Runtime;
  /** Sends one token request (RFC 8628 §3.4). */
  poll: () => Promise<HttpOutcome>;
  /** Seconds (RFC 8628 §3.2). */
  interval: number;
  /** Epoch ms at which the device code expires; waiting stops then. */
  expiresAt: number;
  wake: Wake;
  emit: (event: LoginEvent) => void;
  signal?: AbortSignal;
}

/**
 * RFC 8628 §3.4-3.5, the part every device gets wrong: never faster than the interval, 5 s slower
 * after every slow_down and for good, stop on access_denied, expired_token and every other error,
 * back off with jitter on network failures and 5xx. A wake (a push message) sends one request at
 * once; the interval then applies again from that request.
 */
export async function pollForTokens(options: PollOptions): Promise<TokenSet> {
  const { runtime, wake, emit, signal } = options;
  let intervalMs = options.interval * 1000;
  let nextPollAt = runtime.now() + intervalMs;
  let failures = 0;
  let reason: 'interval' | 'push' = 'interval';
  for (;;) {
    if (signal?.aborted) throw abortedError(signal);
    const now = runtime.now();
    if (now >= options.expiresAt) {
      throw new DeviceClientError('expired_token', 'the code expired before it was approved');
    }
    if (now < nextPollAt) {
      const woken = await wake.sleep(Math.min(nextPollAt, options.expiresAt) - now, signal);
      if (!woken) continue;
      reason = 'push';
    }
    wake.clear();
    emit({ type: 'poll', at: runtime.now(), reason });
    let outcome: HttpOutcome;
    try {
      outcome = await options.poll();
    } catch (error) {
      if (signal?.aborted) throw abortedError(signal);
      if (!(error instanceof DeviceClientError) || !error.retryable) throw error;
      failures += 1;
      const delay = backoffDelay(failures, {
        baseMs: intervalMs,
        capMs: Math.max(RETRY_CAP_MS, intervalMs),
        floorMs: intervalMs,
        random: runtime.random,
      });
      emit({ type: 'error', error, fatal: false });
      nextPollAt = runtime.now() + delay;
      reason = 'interval';
      continue;
    }
    failures = 0;
    reason = 'interval';
    const answeredAt = runtime.now();
    if (outcome.ok) return parseTokenResponse(outcome.body, answeredAt);
    switch (outcome.error) {
      case 'authorization_pending':
        nextPollAt = answeredAt + intervalMs;
        break;
      case 'slow_down': {
        // RFC 8628 §3.5: +5 s for this and all later requests. Where the appliance names a larger
        // interval (devicegate does) or a Retry-After (a 429 from a proxy), that wins.
        intervalMs += SLOW_DOWN_STEP_MS;
        const named = outcome.body.interval;
        if (typeof named === 'number' && named * 1000 > intervalMs) intervalMs = named * 1000;
        emit({ type: 'slow_down', interval: intervalMs / 1000 });
        const retryAfter = retryAfterSeconds(outcome.headers);
        nextPollAt = answeredAt + Math.max(intervalMs, (retryAfter ?? 0) * 1000);
        break;
      }
      case 'access_denied':
        throw new DeviceClientError('access_denied', 'the request was denied', { oauthError: outcome.error });
      case 'expired_token':
        throw new DeviceClientError('expired_token', 'the code expired before it was approved', {
          oauthError: outcome.error,
        });
      default:
        throw new DeviceClientError('oauth', `token request failed: ${describeOAuthError(outcome)}`, {
          oauthError: outcome.error,
          status: outcome.status,
        });
    }
  }
}
