import type Database from 'better-sqlite3';
import type { ReplayIdentifiers } from '../types.ts';

/**
 * Single-use identifiers on disk, so a DPoP proof or client assertion refused as replayed stays
 * refused after a restart (RFC 9449 §11.1, RFC 7523 §3; docs/security.md DPOP-PROOF,
 * ASSERTION-REPLAY). better-sqlite3 is synchronous, so the conditional upsert runs alone; across
 * processes SQLite's write lock serializes it.
 */
export function createSqliteReplayIdentifiers(db: Database.Database): ReplayIdentifiers {
  const q = {
    // A new key is inserted; an expired one taken over; a live one changes nothing (a replay).
    remember: db.prepare(`INSERT INTO replay_identifiers (key, expires_at) VALUES (?, ?)
      ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE replay_identifiers.expires_at <= ?`),
    sweep: db.prepare('DELETE FROM replay_identifiers WHERE expires_at <= ?'),
  };
  return {
    async remember(key, expiresAt, now) {
      return q.remember.run(key, expiresAt, now).changes === 1;
    },
    async sweep(now) {
      return q.sweep.run(now).changes;
    },
  };
}
