import type Database from 'better-sqlite3';
import type { Passkeys } from '../types.ts';
import { joinList, toPasskey, type Row } from './columns.ts';

export function createSqlitePasskeys(db: Database.Database): Passkeys {
  const q = {
    insert: db.prepare(`INSERT INTO passkeys (id, user_id, public_key, counter, transports, device_type, backed_up, created_at)
      VALUES (@id, @userId, @publicKey, @counter, @transports, @deviceType, @backedUp, @createdAt) ON CONFLICT (id) DO NOTHING`),
    get: db.prepare('SELECT * FROM passkeys WHERE id = ?'),
    byUser: db.prepare('SELECT * FROM passkeys WHERE user_id = ? ORDER BY created_at, id'),
    // One conditional UPDATE: of two sign-ins with the same counter, one wins.
    use: db.prepare(`UPDATE passkeys SET counter = @counter, last_used_at = @now
      WHERE id = @id AND (counter < @counter OR (counter = 0 AND @counter = 0))`),
    remove: db.prepare('DELETE FROM passkeys WHERE id = ? AND user_id = ?'),
  };
  return {
    async create(passkey) {
      return q.insert.run({ ...passkey, transports: joinList(passkey.transports), backedUp: passkey.backedUp ? 1 : 0 }).changes === 1;
    },
    async get(id) {
      const row = q.get.get(id) as Row | undefined;
      return row ? toPasskey(row) : null;
    },
    async listByUser(userId) {
      return (q.byUser.all(userId) as Row[]).map(toPasskey);
    },
    async recordUse(id, counter, now) {
      return q.use.run({ id, counter, now }).changes === 1;
    },
    async remove(id, userId) {
      return q.remove.run(id, userId).changes === 1;
    },
  };
}
