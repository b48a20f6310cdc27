/**
 * Fleet mixes given as weights (`tv=40,translator=20`), turned into exact counts for N devices
 * and a seeded order, so a run with the same flags and seed simulates the same fleet.
 */

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parses `name=weight,...`; every name must be one of `allowed`, weights are non-negative. */
export function parseWeights<K extends string>(text: string, allowed: readonly K[], flag: string): Record<K, number> {
  const weights = Object.fromEntries(allowed.map((name) => [name, 0])) as Record<K, number>;
  const parts = text.split(',').map((part) => part.trim()).filter(Boolean);
  if (parts.length === 0) throw new UsageError(`${flag}: give name=weight pairs, e.g. ${allowed[0]}=1`);
  for (const part of parts) {
    const match = /^([a-z-]+)=(\d+(?:\.\d+)?)$/.exec(part);
    if (!match) throw new UsageError(`${flag}: "${part}" is not name=weight`);
    const name = match[1] as K;
    if (!allowed.includes(name)) throw new UsageError(`${flag}: unknown "${match[1]}" (known: ${allowed.join(', ')})`);
    weights[name] = Number(match[2]);
  }
  if (Object.values<number>(weights).every((weight) => weight === 0)) throw new UsageError(`${flag}: at least one weight must be above 0`);
  return weights;
}

/** Exact counts summing to `total`, by the largest remainder method (Hamilton). */
export function apportion<K extends string>(weights: Record<K, number>, total: number): Record<K, number> {
  const names = Object.keys(weights) as K[];
  const sum = names.reduce((acc, name) => acc + weights[name], 0);
  const counts = {} as Record<K, number>;
  const remainders: Array<[K, number]> = [];
  let given = 0;
  for (const name of names) {
    const exact = sum === 0 ? 0 : (weights[name] / sum) * total;
    counts[name] = Math.floor(exact);
    given += counts[name];
    remainders.push([name, exact - counts[name]]);
  }
  remainders.sort((a, b) => b[1] - a[1]);
  for (let index = 0; given < total; index++, given++) counts[remainders[index % remainders.length]![0]] += 1;
  return counts;
}

/** mulberry32: a small seeded PRNG; reproducible fleets, never anything secret. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Each name repeated by its count, in a seeded random order (Fisher-Yates). */
export function shuffledAssignment<K extends string>(counts: Record<K, number>, random: () => number): K[] {
  const list: K[] = [];
  for (const name of Object.keys(counts) as K[]) for (let index = 0; index < counts[name]; index++) list.push(name);
  for (let index = list.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [list[index], list[other]] = [list[other]!, list[index]!];
  }
  return list;
}
