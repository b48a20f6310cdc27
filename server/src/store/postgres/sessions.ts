import type { SessionRecord, Sessions } from '../types.ts';
import { toSession, type Database } from './database.ts';

export function createPostgresSessions({ pool, one, changes }: Database): Sessions {
  return {
    async create(session: SessionRecord) {
      await pool.query(
        'INSERT INTO sessions (id_hash, user_id, created_at, expires_at, auth_time, amr, acr) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        [session.idHash, session.userId, session.createdAt, session.expiresAt, session.authTime, session.amr, session.acr],
      );
    },
    async get(idHash, now) {
      const row = await one('SELECT * FROM sessions WHERE id_hash = $1 AND expires_at > $2', [idHash, now]);
      return row ? toSession(row) : null;
    },
    async remove(idHash) {
      await pool.query('DELETE FROM sessions WHERE id_hash = $1', [idHash]);
    },
    async removeByUser(userId) {
      return changes('DELETE FROM sessions WHERE user_id = $1', [userId]);
    },
    async sweep(now) {
      return changes('DELETE FROM sessions WHERE expires_at <= $1', [now]);
    },
  };
}
