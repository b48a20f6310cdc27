import type Database from 'better-sqlite3';
import type { Grants } from '../types.ts';
import { joinList, toGrant, type Row } from './columns.ts';

export function createSqliteGrants(db: Database.Database): Grants {
  const q = {
    insert: db.prepare(`INSERT INTO grants (id, client_id, user_id, scopes, device_name, device_model, auth_time,
      amr, acr, created_at, expires_at, dpop_jkt, resources) VALUES (@id, @clientId, @userId, @scopes, @deviceName, @deviceModel,
      @authTime, @amr, @acr, @createdAt, @expiresAt, @dpopJkt, @resources)`),
    get: db.prepare('SELECT * FROM grants WHERE id = ?'),
    byUser: db.prepare('SELECT * FROM grants WHERE user_id = ? ORDER BY created_at DESC'),
    all: db.prepare('SELECT * FROM grants ORDER BY created_at DESC'),
    active: db.prepare('SELECT * FROM grants WHERE revoked_at IS NULL AND expires_at > ? ORDER BY created_at DESC'),
    touch: db.prepare('UPDATE grants SET last_used_at = ? WHERE id = ?'),
    revoke: db.prepare('UPDATE grants SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL'),
    revokeRefreshTokens: db.prepare('UPDATE refresh_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL'),
    revokeAccessTokens: db.prepare('UPDATE access_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL'),
  };

  // The grant and every token of its family go together, or not at all. Reads, then writes:
  // .immediate() (see sqlite-store.ts).
  const revoke = db.transaction((id: string, now: number, reason: string): boolean => {
    if (q.revoke.run(now, reason, id).changes !== 1) return false;
    q.revokeRefreshTokens.run(now, id);
    q.revokeAccessTokens.run(now, id);
    return true;
  });

  return {
    async create(grant) {
      q.insert.run({ ...grant, scopes: joinList(grant.scopes), amr: grant.amr ? joinList(grant.amr) : null, resources: joinList(grant.resources) });
    },
    async get(id) {
      const row = q.get.get(id) as Row | undefined;
      return row ? toGrant(row) : null;
    },
    async listByUser(userId) {
      return (q.byUser.all(userId) as Row[]).map(toGrant);
    },
    async list({ activeOnly, now }) {
      return ((activeOnly ? q.active.all(now) : q.all.all()) as Row[]).map(toGrant);
    },
    async touch(id, now) {
      q.touch.run(now, id);
    },
    async revoke(id, now, reason) {
      return revoke.immediate(id, now, reason);
    },
  };
}
