import { UsernameTakenError, type Users } from '../types.ts';
import { toUser, type Database } from './database.ts';

export function createPostgresUsers({ pool, one, all, changes }: Database): Users {
  return {
    async get(id) {
      const row = await one('SELECT * FROM users WHERE id = $1', [id]);
      return row ? toUser(row) : null;
    },
    async getByUsername(username) {
      const row = await one('SELECT * FROM users WHERE username = $1', [username]);
      return row ? toUser(row) : null;
    },
    async list() {
      return (await all('SELECT * FROM users ORDER BY username')).map(toUser);
    },
    async create(user) {
      try {
        await pool.query(
          `INSERT INTO users (id, username, password_hash, name, email, email_verified, disabled, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [user.id, user.username, user.passwordHash, user.name, user.email, user.emailVerified, user.disabled, user.createdAt],
        );
      } catch (error) {
        const { code, constraint } = error as { code?: string; constraint?: string };
        // 23505: unique_violation.
        if (code === '23505' && constraint === 'users_username_unique') throw new UsernameTakenError(user.username);
        throw error;
      }
    },
    async setPassword(id, passwordHash) {
      return (await changes('UPDATE users SET password_hash = $2 WHERE id = $1', [id, passwordHash])) === 1;
    },
    async remove(id) {
      return (await changes('DELETE FROM users WHERE id = $1', [id])) === 1;
    },
  };
}
