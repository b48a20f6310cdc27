import { DevicegateError } from '../errors.ts';

/**
 * Single-use identifiers seen recently: DPoP proof `jti`s (RFC 9449 §11.1) and client assertion
 * `jti`s (RFC 7523 §3 item 7). One small interface so a shared backend (PostgreSQL, Redis) can
 * replace the in-memory one when several instances serve one issuer.
 */
export interface ReplayCache {
  /**
   * Records `key` until `expiresAt` (epoch ms). Resolves true the first time a key is seen,
   * false when it is already remembered (a replay).
   */
  remember(key: string, expiresAt: number): Promise<boolean>;
}

/** Thrown when the cache is full of live entries: refusing is safer than forgetting. */
export class ReplayCacheFullError extends DevicegateError {
  constructor() {
    super('replay_cache_full', 'the replay cache is full');
    this.name = 'ReplayCacheFullError';
  }
}

/**
 * In-process cache with per-entry expiry. Entries live no longer than a proof or assertion could
 * be accepted (a minute or two), so memory stays bounded by the request rate; `maxEntries` is a
 * backstop against a flood, and when it is reached with nothing expired, new identifiers are
 * refused rather than old ones forgotten (forgetting would reopen replay).
 */
export function createMemoryReplayCache(options: { now: () => number; maxEntries?: number }): ReplayCache {
  const maxEntries = options.maxEntries ?? 200_000;
  const entries = new Map<string, number>();

  /** Map order is insertion order, which is roughly expiry order: drop expired from the front. */
  function pruneFront(now: number): void {
    for (const [key, expiresAt] of entries) {
      if (expiresAt > now) break;
      entries.delete(key);
    }
  }

  function pruneAll(now: number): void {
    for (const [key, expiresAt] of entries) if (expiresAt <= now) entries.delete(key);
  }

  return {
    async remember(key, expiresAt) {
      const now = options.now();
      pruneFront(now);
      const existing = entries.get(key);
      if (existing !== undefined && existing > now) return false;
      if (entries.size >= maxEntries) {
        pruneAll(now);
        if (entries.size >= maxEntries) throw new ReplayCacheFullError();
      }
      entries.delete(key);
      entries.set(key, expiresAt);
      return true;
    },
  };
}
