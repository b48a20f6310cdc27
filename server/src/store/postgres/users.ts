import { IdentityTakenError, UsernameTakenError, type UserRecord, type Users } from '../types.ts';
import { toUser, type Database, type Queryable } from './database.ts';

const INSERT_USER = `INSERT INTO users (id, username, password_hash, name, email, email_verified, disabled, created_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`;

async function insertUser(db: Queryable, user: UserRecord): Promise<void> {
  try {
    await db.query(INSERT_USER, [user.id, user.username, user.passwordHash, user.name, user.email, user.emailVerified, user.disabled, user.createdAt]);
  } catch (error) {
    const { code, constraint } = error as { code?: string; constraint?: string };
    // 23505: unique_violation.
    if (code === '23505' && constraint === 'users_username_unique') throw new UsernameTakenError(user.username);
    if (code === '23505' && constraint === 'user_identities_pkey') throw new IdentityTakenError();
    throw error;
  }
}

export function createPostgresUsers({ pool, one, all, changes, transaction }: Database): Users {
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
      await insertUser(pool, user);
    },
    async setPassword(id, passwordHash) {
      return (await changes('UPDATE users SET password_hash = $2 WHERE id = $1', [id, passwordHash])) === 1;
    },
    async remove(id) {
      return transaction(async (client) => {
        await client.query('DELETE FROM user_identities WHERE user_id = $1', [id]);
        return (await client.query('DELETE FROM users WHERE id = $1', [id])).rowCount === 1;
      });
    },
    async findByIdentity({ issuer, subject }) {
      const row = await one(
        'SELECT users.* FROM user_identities JOIN users ON users.id = user_identities.user_id WHERE issuer = $1 AND subject = $2',
        [issuer, subject],
      );
      return row ? toUser(row) : null;
    },
    async createWithIdentity(user, identity) {
      // The user and its link go together or not at all; the primary key of user_identities
      // decides between two first sign-ins at once.
      await transaction(async (client) => {
        await insertUser(client, user);
        try {
          await client.query('INSERT INTO user_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)', [
            identity.issuer,
            identity.subject,
            user.id,
            identity.createdAt,
          ]);
        } catch (error) {
          if ((error as { code?: string }).code === '23505') throw new IdentityTakenError();
          throw error;
        }
      });
    },
    async updateProfile(id, profile) {
      return (await changes('UPDATE users SET name = $2, email = $3, email_verified = $4 WHERE id = $1', [id, profile.name, profile.email, profile.emailVerified])) === 1;
    },
  };
}
