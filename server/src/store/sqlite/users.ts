import type Database from 'better-sqlite3';
import { UsernameTakenError, type Users } from '../types.ts';
import { toUser, type Row } from './columns.ts';

export function createSqliteUsers(db: Database.Database): Users {
  const q = {
    get: db.prepare('SELECT * FROM users WHERE id = ?'),
    byName: db.prepare('SELECT * FROM users WHERE username = ?'),
    list: db.prepare('SELECT * FROM users ORDER BY username'),
    insert: db.prepare(`INSERT INTO users (id, username, password_hash, name, email, email_verified, disabled, created_at)
      VALUES (@id, @username, @passwordHash, @name, @email, @emailVerified, @disabled, @createdAt)`),
    setPassword: db.prepare('UPDATE users SET password_hash = ? WHERE id = ?'),
    remove: db.prepare('DELETE FROM users WHERE id = ?'),
  };

  return {
    async get(id) {
      const row = q.get.get(id) as Row | undefined;
      return row ? toUser(row) : null;
    },
    async getByUsername(username) {
      const row = q.byName.get(username) as Row | undefined;
      return row ? toUser(row) : null;
    },
    async list() {
      return (q.list.all() as Row[]).map(toUser);
    },
    async create(user) {
      try {
        q.insert.run({ ...user, emailVerified: user.emailVerified ? 1 : 0, disabled: user.disabled ? 1 : 0 });
      } catch (error) {
        if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new UsernameTakenError(user.username);
        throw error;
      }
    },
    async setPassword(id, passwordHash) {
      return q.setPassword.run(passwordHash, id).changes === 1;
    },
    async remove(id) {
      return q.remove.run(id).changes === 1;
    },
  };
}
