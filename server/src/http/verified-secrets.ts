import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Client secrets that were verified a moment ago, so a resource server that introspects on every
 * call, or a confidential device, does not pay argon2 on every request (introspection was held at
 * ~20 requests/s by one argon2 verification each: docs/performance.md#verified-client-secrets).
 *
 * Only successes are kept; a wrong secret still costs the full argon2 verification, so guessing
 * is exactly as slow as before. An entry is keyed by the client and its stored hash (a rotated
 * secret misses at once) and holds an HMAC of the presented secret under a key made at start and
 * never leaving this process: the cache never holds the secret or a digest usable elsewhere.
 * Blocking a client needs no invalidation: the caller reads the client record on every request.
 */
export interface VerifiedSecrets {
  matches(clientId: string, storedHash: string, secret: string): boolean;
  remember(clientId: string, storedHash: string, secret: string): void;
}

export function createVerifiedSecrets(options: { now: () => number; ttlMs?: number; maxEntries?: number }): VerifiedSecrets {
  const ttlMs = options.ttlMs ?? 5 * 60_000;
  const maxEntries = options.maxEntries ?? 1000;
  const key = randomBytes(32);
  const entries = new Map<string, { mac: Buffer; expiresAt: number }>();
  const mac = (secret: string) => createHmac('sha256', key).update(secret, 'utf8').digest();
  const id = (clientId: string, storedHash: string) => `${clientId}\u0000${storedHash}`;
  return {
    matches(clientId, storedHash, secret) {
      const entry = entries.get(id(clientId, storedHash));
      if (!entry) return false;
      if (entry.expiresAt <= options.now()) {
        entries.delete(id(clientId, storedHash));
        return false;
      }
      return timingSafeEqual(entry.mac, mac(secret));
    },
    remember(clientId, storedHash, secret) {
      const name = id(clientId, storedHash);
      entries.delete(name);
      entries.set(name, { mac: mac(secret), expiresAt: options.now() + ttlMs });
      // Oldest first out: a bounded map however many clients there are.
      while (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    },
  };
}
