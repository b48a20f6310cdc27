import type Database from 'better-sqlite3';
import type { AccessTokens } from '../types.ts';
import { joinList, toAccessToken, type Row } from './columns.ts';

export function createSqliteAccessTokens(db: Database.Database): AccessTokens {
  const q = {
    insert: db.prepare(`INSERT INTO access_tokens (jti, token_hash, grant_id, client_id, subject, scopes, audience,
      issued_at, expires_at, dpop_jkt, act) VALUES (@jti, @tokenHash, @grantId, @clientId, @subject, @scopes, @audience,
      @issuedAt, @expiresAt, @dpopJkt, @act)`),
    byJti: db.prepare('SELECT * FROM access_tokens WHERE jti = ?'),
    byHash: db.prepare('SELECT * FROM access_tokens WHERE token_hash = ?'),
    revoke: db.prepare('UPDATE access_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL'),
    sweep: db.prepare('DELETE FROM access_tokens WHERE expires_at <= ?'),
  };

  return {
    async create(token) {
      q.insert.run({ ...token, scopes: joinList(token.scopes), act: token.act ? JSON.stringify(token.act) : null });
    },
    async findByJti(jti) {
      const row = q.byJti.get(jti) as Row | undefined;
      return row ? toAccessToken(row) : null;
    },
    async findByTokenHash(hash) {
      const row = q.byHash.get(hash) as Row | undefined;
      return row ? toAccessToken(row) : null;
    },
    async revoke(jti, now) {
      return q.revoke.run(now, jti).changes === 1;
    },
    async sweep(now) {
      return q.sweep.run(now).changes;
    },
  };
}
