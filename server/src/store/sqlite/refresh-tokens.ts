import type Database from 'better-sqlite3';
import type { RefreshTokenRecord, RefreshTokens, RotateResult } from '../types.ts';
import { joinList, toRefreshToken, type Row } from './columns.ts';

export function createSqliteRefreshTokens(db: Database.Database): RefreshTokens {
  const q = {
    insert: db.prepare(`INSERT INTO refresh_tokens (token_hash, grant_id, client_id, scopes, created_at, expires_at)
      VALUES (@tokenHash, @grantId, @clientId, @scopes, @createdAt, @expiresAt)`),
    find: db.prepare('SELECT * FROM refresh_tokens WHERE token_hash = ?'),
    markRotated: db.prepare(`UPDATE refresh_tokens SET rotated_at = ? WHERE token_hash = ? AND rotated_at IS NULL
      AND revoked_at IS NULL AND expires_at > ?`),
    revoke: db.prepare('UPDATE refresh_tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL'),
    sweep: db.prepare('DELETE FROM refresh_tokens WHERE expires_at <= ?'),
  };

  const insert = (token: Omit<RefreshTokenRecord, 'rotatedAt' | 'revokedAt'>) =>
    q.insert.run({ ...token, scopes: joinList(token.scopes) });

  // RFC 9700 §4.14.2: one rotation per token; a second one is reuse. Reads, then writes:
  // .immediate() (see sqlite-store.ts).
  const rotate = db.transaction(
    (oldHash: string, successor: Omit<RefreshTokenRecord, 'rotatedAt' | 'revokedAt'>, now: number): RotateResult => {
      const row = q.find.get(oldHash) as Row | undefined;
      if (!row) return { kind: 'invalid' };
      const previous = toRefreshToken(row);
      if (previous.rotatedAt !== null) return { kind: 'reused', previous };
      if (q.markRotated.run(now, oldHash, now).changes !== 1) return { kind: 'invalid' };
      insert(successor);
      return { kind: 'rotated', previous };
    },
  );

  return {
    async create(token) {
      insert(token);
    },
    async find(hash) {
      const row = q.find.get(hash) as Row | undefined;
      return row ? toRefreshToken(row) : null;
    },
    async rotate(oldHash, successor, now) {
      return rotate.immediate(oldHash, successor, now);
    },
    async revoke(hash, now) {
      q.revoke.run(now, hash);
      const row = q.find.get(hash) as Row | undefined;
      return row ? toRefreshToken(row) : null;
    },
    async sweep(now) {
      return q.sweep.run(now).changes;
    },
  };
}
