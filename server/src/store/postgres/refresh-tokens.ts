import type { RefreshTokenRecord, RefreshTokens, RotateResult } from '../types.ts';
import { toRefreshToken, type Database, type Queryable } from './database.ts';

const insert = (client: Queryable, token: Omit<RefreshTokenRecord, 'rotatedAt' | 'revokedAt'>) =>
  client.query(
    `INSERT INTO refresh_tokens (token_hash, grant_id, client_id, scopes, created_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [token.tokenHash, token.grantId, token.clientId, token.scopes, token.createdAt, token.expiresAt],
  );

export function createPostgresRefreshTokens({ pool, one, changes, transaction }: Database): RefreshTokens {
  return {
    async create(token) {
      await insert(pool, token);
    },
    async find(hash) {
      const row = await one('SELECT * FROM refresh_tokens WHERE token_hash = $1', [hash]);
      return row ? toRefreshToken(row) : null;
    },
    async rotate(oldHash, successor, now): Promise<RotateResult> {
      // RFC 9700 §4.14.2. The row lock makes concurrent rotations of one token take turns: the
      // first retires it and stores its successor; the others then read it as rotated (reuse).
      return transaction(async (client) => {
        const row = (await client.query('SELECT * FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE', [oldHash])).rows[0];
        if (!row) return { kind: 'invalid' };
        const previous = toRefreshToken(row);
        if (previous.rotatedAt !== null) return { kind: 'reused', previous };
        if (previous.revokedAt !== null || previous.expiresAt <= now) return { kind: 'invalid' };
        await client.query('UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1', [oldHash, now]);
        await insert(client, successor);
        return { kind: 'rotated', previous };
      });
    },
    async revoke(hash, now) {
      await pool.query('UPDATE refresh_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL', [hash, now]);
      const row = await one('SELECT * FROM refresh_tokens WHERE token_hash = $1', [hash]);
      return row ? toRefreshToken(row) : null;
    },
    async sweep(now) {
      return changes('DELETE FROM refresh_tokens WHERE expires_at <= $1', [now]);
    },
  };
}
