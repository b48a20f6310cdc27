import type Database from 'better-sqlite3';
import type { SessionRecord, Sessions } from '../types.ts';
import { joinList, toSession, type Row } from './columns.ts';

export function createSqliteSessions(db: Database.Database): Sessions {
  const q = {
    insert: db.prepare(`INSERT INTO sessions (id_hash, user_id, created_at, expires_at, auth_time, amr, acr)
      VALUES (@idHash, @userId, @createdAt, @expiresAt, @authTime, @amr, @acr)`),
    get: db.prepare('SELECT * FROM sessions WHERE id_hash = ? AND expires_at > ?'),
    remove: db.prepare('DELETE FROM sessions WHERE id_hash = ?'),
    removeByUser: db.prepare('DELETE FROM sessions WHERE user_id = ?'),
    sweep: db.prepare('DELETE FROM sessions WHERE expires_at <= ?'),
  };

  return {
    async create(session: SessionRecord) {
      q.insert.run({ ...session, amr: joinList(session.amr) });
    },
    async get(idHash, now) {
      const row = q.get.get(idHash, now) as Row | undefined;
      return row ? toSession(row) : null;
    },
    async remove(idHash) {
      q.remove.run(idHash);
    },
    async removeByUser(userId) {
      return q.removeByUser.run(userId).changes;
    },
    async sweep(now) {
      return q.sweep.run(now).changes;
    },
  };
}
