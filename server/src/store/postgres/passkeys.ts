import type { Passkeys } from '../types.ts';
import { toPasskey, type Database } from './database.ts';

export function createPostgresPasskeys({ one, all, changes }: Database): Passkeys {
  return {
    async create(passkey) {
      return (
        (await changes(
          `INSERT INTO passkeys (id, user_id, public_key, counter, transports, device_type, backed_up, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
          [passkey.id, passkey.userId, passkey.publicKey, passkey.counter, passkey.transports, passkey.deviceType, passkey.backedUp, passkey.createdAt],
        )) === 1
      );
    },
    async get(id) {
      const row = await one('SELECT * FROM passkeys WHERE id = $1', [id]);
      return row ? toPasskey(row) : null;
    },
    async listByUser(userId) {
      return (await all('SELECT * FROM passkeys WHERE user_id = $1 ORDER BY created_at, id', [userId])).map(toPasskey);
    },
    async recordUse(id, counter, now) {
      // One conditional UPDATE: at READ COMMITTED, of two sign-ins with the same counter one matches.
      return (
        (await changes(
          `UPDATE passkeys SET counter = $2, last_used_at = $3
           WHERE id = $1 AND (counter < $2 OR (counter = 0 AND $2 = 0))`,
          [id, counter, now],
        )) === 1
      );
    },
    async remove(id, userId) {
      return (await changes('DELETE FROM passkeys WHERE id = $1 AND user_id = $2', [id, userId])) === 1;
    },
  };
}
