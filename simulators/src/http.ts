import type { FetchFunction } from '@devicegate/device-client';

/**
 * Every HTTP request the simulated fleet makes goes through one counting fetch, so the report can
 * say how many answers were 5xx (the appliance failed) or 429 (an abuse limit refused), whoever
 * sent the request: a device or a person's browser.
 */
export interface HttpStats {
  requests: number;
  byStatus: Record<string, number>;
  /** 5xx answers, by `METHOD path`. */
  serverErrors: Record<string, number>;
  /** 429 answers, by `METHOD path`. */
  rateLimited: Record<string, number>;
  /** Requests that got no answer at all (refused, reset, timed out). */
  networkFailures: number;
}

export function createHttpStats(): HttpStats {
  return { requests: 0, byStatus: {}, serverErrors: {}, rateLimited: {}, networkFailures: 0 };
}

export const count5xx = (stats: HttpStats) => Object.values(stats.serverErrors).reduce((sum, n) => sum + n, 0);
export const count429 = (stats: HttpStats) => Object.values(stats.rateLimited).reduce((sum, n) => sum + n, 0);

function pathOf(input: string | URL): string {
  try {
    return new URL(String(input)).pathname;
  } catch {
    return String(input);
  }
}

export function countingFetch(stats: HttpStats, base: FetchFunction = (input, init) => globalThis.fetch(input, init)): FetchFunction {
  return async (input, init) => {
    stats.requests++;
    let response: Response;
    try {
      response = await base(input, init);
    } catch (error) {
      stats.networkFailures++;
      throw error;
    }
    const status = response.status;
    stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
    if (status >= 500 || status === 429) {
      const where = `${(init?.method ?? 'GET').toUpperCase()} ${pathOf(input)}`;
      const bucket = status >= 500 ? stats.serverErrors : stats.rateLimited;
      bucket[where] = (bucket[where] ?? 0) + 1;
    }
    return response;
  };
}
