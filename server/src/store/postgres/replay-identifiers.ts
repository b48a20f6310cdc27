import type { ReplayIdentifiers } from '../types.ts';
import type { Database } from './database.ts';

export function createPostgresReplayIdentifiers({ one, changes }: Database): ReplayIdentifiers {
  return {
    // One statement decides: a new key is inserted; an expired one is taken over; a live one
    // returns no row (a replay). A concurrent insert of the same key waits on the primary key
    // and then sees the winner's live row, so exactly one caller gets true.
    async remember(key, expiresAt, now) {
      const row = await one(
        `INSERT INTO replay_identifiers (key, expires_at) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE replay_identifiers.expires_at <= $3
         RETURNING 1 AS fresh`,
        [key, expiresAt, now],
      );
      return row !== null;
    },
    async sweep(now) {
      return changes('DELETE FROM replay_identifiers WHERE expires_at <= $1', [now]);
    },
  };
}
