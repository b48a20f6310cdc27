/**
 * Everything the client takes from its surroundings, passed in so tests (and unusual firmware)
 * can replace it: the HTTP client, the clock, sleeping and randomness. No module-level state.
 */
export type FetchFunction = (input: string | URL, init?: RequestInit) => Promise<Response>;

export interface Runtime {
  fetch: FetchFunction;
  /** Epoch milliseconds. */
  now(): number;
  /** Resolves after `ms`, or early (never rejects) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Uniform in [0, 1): only for jitter, never for secrets. */
  random(): number;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });
}

export const systemRuntime: Runtime = {
  fetch: (input, init) => globalThis.fetch(input, init),
  now: () => Date.now(),
  sleep,
  random: () => Math.random(),
};

export function resolveRuntime(partial: Partial<Runtime> = {}): Runtime {
  return { ...systemRuntime, ...partial };
}

/**
 * Exponential backoff with "equal jitter": the delay doubles per failure up to `capMs`, and a
 * random half of it is added on top of the other half, so a fleet that lost the appliance at the
 * same moment does not come back at the same moment. Never below `floorMs` (RFC 8628 §3.5: a
 * device never polls faster than the interval, retries included).
 */
export function backoffDelay(
  attempt: number,
  options: { baseMs: number; capMs: number; floorMs?: number; random: () => number },
): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 20);
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** exponent);
  const delay = ceiling / 2 + options.random() * (ceiling / 2);
  return Math.max(options.floorMs ?? 0, Math.round(delay));
}
