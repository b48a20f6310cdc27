/** Latency summaries and error tallies for the fleet report. */

export interface LatencySummary {
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

/** Nearest-rank percentile of sorted values (no interpolation: every figure was really measured). */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

const round = (value: number | null) => (value === null ? null : Math.round(value * 10) / 10);

export function summarize(values: readonly number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.length ? sorted[sorted.length - 1]! : null),
  };
}

/** Errors by kind, with the first few messages of each kind kept as samples. */
export interface ErrorTally {
  add(kind: string, message: string): void;
  readonly total: number;
  byKind(): Record<string, number>;
  samples(): Array<{ kind: string; message: string }>;
}

export function createErrorTally(samplesPerKind = 3): ErrorTally {
  const counts = new Map<string, number>();
  const kept: Array<{ kind: string; message: string }> = [];
  let total = 0;
  return {
    add(kind, message) {
      total++;
      const count = (counts.get(kind) ?? 0) + 1;
      counts.set(kind, count);
      if (count <= samplesPerKind) kept.push({ kind, message: message.slice(0, 300) });
    },
    get total() {
      return total;
    },
    byKind: () => Object.fromEntries([...counts].sort((a, b) => b[1] - a[1])),
    samples: () => [...kept],
  };
}
