import type { Grants } from '../types.ts';
import { toGrant, type Database } from './database.ts';

export function createPostgresGrants({ pool, one, all, transaction }: Database): Grants {
  return {
    async create(grant) {
      await pool.query(
        `INSERT INTO grants (id, client_id, user_id, scopes, device_name, device_model, auth_time, created_at,
           expires_at, dpop_jkt, amr, acr, resources) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
        [
          grant.id,
          grant.clientId,
          grant.userId,
          grant.scopes,
          grant.deviceName,
          grant.deviceModel,
          grant.authTime,
          grant.createdAt,
          grant.expiresAt,
          grant.dpopJkt,
          grant.amr,
          grant.acr,
          grant.resources,
        ],
      );
    },
    async get(id) {
      const row = await one('SELECT * FROM grants WHERE id = $1', [id]);
      return row ? toGrant(row) : null;
    },
    async listByUser(userId) {
      return (await all('SELECT * FROM grants WHERE user_id = $1 ORDER BY created_at DESC', [userId])).map(toGrant);
    },
    async list({ activeOnly, now }) {
      const rows = activeOnly
        ? await all('SELECT * FROM grants WHERE revoked_at IS NULL AND expires_at > $1 ORDER BY created_at DESC', [now])
        : await all('SELECT * FROM grants ORDER BY created_at DESC');
      return rows.map(toGrant);
    },
    async touch(id, now) {
      await pool.query('UPDATE grants SET last_used_at = $2 WHERE id = $1', [id, now]);
    },
    async revoke(id, now, reason) {
      // The grant and every token of its family go together, or not at all.
      return transaction(async (client) => {
        const revoked = await client.query(
          'UPDATE grants SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL',
          [id, now, reason],
        );
        if (revoked.rowCount !== 1) return false;
        await client.query('UPDATE refresh_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL', [id, now]);
        await client.query('UPDATE access_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL', [id, now]);
        return true;
      });
    },
  };
}
