import type { AccessTokens } from '../types.ts';
import { toAccessToken, type Database } from './database.ts';

export function createPostgresAccessTokens({ pool, one, changes }: Database): AccessTokens {
  return {
    async create(token) {
      await pool.query(
        `INSERT INTO access_tokens (jti, token_hash, grant_id, client_id, subject, scopes, audience, issued_at,
           expires_at, dpop_jkt, act) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [
          token.jti,
          token.tokenHash,
          token.grantId,
          token.clientId,
          token.subject,
          token.scopes,
          token.audience,
          token.issuedAt,
          token.expiresAt,
          token.dpopJkt,
          token.act ? JSON.stringify(token.act) : null,
        ],
      );
    },
    async findByJti(jti) {
      const row = await one('SELECT * FROM access_tokens WHERE jti = $1', [jti]);
      return row ? toAccessToken(row) : null;
    },
    async findByTokenHash(hash) {
      const row = await one('SELECT * FROM access_tokens WHERE token_hash = $1', [hash]);
      return row ? toAccessToken(row) : null;
    },
    async revoke(jti, now) {
      return (await changes('UPDATE access_tokens SET revoked_at = $2 WHERE jti = $1 AND revoked_at IS NULL', [jti, now])) === 1;
    },
    async sweep(now) {
      return changes('DELETE FROM access_tokens WHERE expires_at <= $1', [now]);
    },
  };
}
