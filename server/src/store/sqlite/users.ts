import type Database from 'better-sqlite3';
import { IdentityTakenError, UsernameTakenError, type UserRecord, type Users } from '../types.ts';
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
    removeIdentities: db.prepare('DELETE FROM user_identities WHERE user_id = ?'),
    byIdentity: db.prepare(`SELECT users.* FROM user_identities JOIN users ON users.id = user_identities.user_id
      WHERE user_identities.issuer = ? AND user_identities.subject = ?`),
    identityTaken: db.prepare('SELECT 1 FROM user_identities WHERE issuer = ? AND subject = ?'),
    link: db.prepare('INSERT INTO user_identities (issuer, subject, user_id, created_at) VALUES (?, ?, ?, ?)'),
    updateProfile: db.prepare('UPDATE users SET name = @name, email = @email, email_verified = @emailVerified WHERE id = @id'),
  };

  const insert = (user: UserRecord) => {
    try {
      q.insert.run({ ...user, emailVerified: user.emailVerified ? 1 : 0, disabled: user.disabled ? 1 : 0 });
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new UsernameTakenError(user.username);
      throw error;
    }
  };
  // The user and its link go together or not at all; reads, then writes: .immediate() (see sqlite-store.ts).
  const createWithIdentity = db.transaction((user: UserRecord, issuer: string, subject: string, createdAt: number) => {
    if (q.identityTaken.get(issuer, subject)) throw new IdentityTakenError();
    insert(user);
    q.link.run(issuer, subject, user.id, createdAt);
  });
  const remove = db.transaction((id: string): boolean => {
    q.removeIdentities.run(id);
    return q.remove.run(id).changes === 1;
  });

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
      insert(user);
    },
    async setPassword(id, passwordHash) {
      return q.setPassword.run(passwordHash, id).changes === 1;
    },
    async remove(id) {
      return remove.immediate(id);
    },
    async findByIdentity({ issuer, subject }) {
      const row = q.byIdentity.get(issuer, subject) as Row | undefined;
      return row ? toUser(row) : null;
    },
    async createWithIdentity(user, identity) {
      createWithIdentity.immediate(user, identity.issuer, identity.subject, identity.createdAt);
    },
    async updateProfile(id, profile) {
      return q.updateProfile.run({ id, name: profile.name, email: profile.email, emailVerified: profile.emailVerified ? 1 : 0 }).changes === 1;
    },
  };
}
