import { createHash, randomFillSync, timingSafeEqual } from 'node:crypto';

/**
 * Helpers for secrets: device codes, refresh tokens, opaque access tokens, session ids. Values
 * are generated here, hashed on the way into the store, and compared in constant time. A
 * high-entropy random value needs no slow hash: SHA-256 of 256 random bits cannot be reversed.
 * (Passwords and client secrets, which people choose, go through passwords.ts instead.)
 */

/**
 * Randomness is drawn from the CSPRNG 4 KiB at a time and each byte handed out once, as Node's own
 * randomUUID does: one call per ~85 secrets instead of one each (6.2 us -> 0.35 us for a device
 * code and an id: docs/performance.md#random-bytes-from-a-pool). The bytes are the CSPRNG's either
 * way.
 */
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let poolOffset = POOL_BYTES;

function randomBase64url(bytes: number): string {
  if (bytes > POOL_BYTES) return randomFillSync(Buffer.alloc(bytes)).toString('base64url');
  if (poolOffset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const value = pool.toString('base64url', poolOffset, poolOffset + bytes);
  // Bytes handed out as a secret do not linger in the long-lived pool (a heap dump shows none).
  pool.fill(0, poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return value;
}

/** 256 bits of randomness, base64url (43 characters). */
export function randomSecret(bytes = 32): string {
  return randomBase64url(bytes);
}

/** SHA-256, base64url; the form in which a secret is stored and looked up. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('base64url');
}

/** Domain-separated one-way derivation, so one hash can never be confused for another. */
export function deriveKey(label: string, value: string): string {
  return createHash('sha256').update(`devicegate:${label}:`, 'utf8').update(value, 'utf8').digest('base64url');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = createHash('sha256').update(a, 'utf8').digest();
  const right = createHash('sha256').update(b, 'utf8').digest();
  // Comparing digests keeps the comparison constant-time even when lengths differ.
  return timingSafeEqual(left, right) && a.length === b.length;
}

/**
 * A random identifier (not a secret): 128 bits, base64url, never starting with `-`. Operators paste
 * ids into the CLI (`devicegate grants revoke <id>`), where an argument that starts with `-` is read
 * as an option; one id in 64 would. Drawing again costs those ids under 0.03 bits.
 */
export function randomId(): string {
  for (;;) {
    const id = randomBase64url(16);
    if (id[0] !== '-') return id;
  }
}

/**
 * An identifier that sorts by creation time (not a secret): the time in milliseconds as 12 hex
 * digits, then 96 random bits. Rows keyed by it append to the end of their index instead of landing
 * on a random page: a random key costs SQLite a page written to its log per insert, a quarter of a
 * device authorization's store time (docs/performance.md#time-ordered-ids). It reveals when the row
 * was made, which the pages show anyway.
 */
export function timeOrderedId(nowMs: number): string {
  return Math.max(0, Math.floor(nowMs)).toString(16).padStart(12, '0') + randomBase64url(12);
}
