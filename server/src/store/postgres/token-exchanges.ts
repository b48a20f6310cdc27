import type { NewAccessToken, NewRefreshToken, RedemptionResult, RefreshResult, TokenExchanges } from '../types.ts';
import { toDeviceGrant, toRefreshToken, type Database, type Queryable } from './database.ts';

/** The new tokens, under the family `grantId`; a refresh token never outlives its family. */
async function insertTokens(client: Queryable, grantId: string, familyEnd: number, access: NewAccessToken, refresh: NewRefreshToken | null) {
  await client.query(
    `INSERT INTO access_tokens (jti, token_hash, grant_id, client_id, subject, scopes, audience, issued_at,
       expires_at, dpop_jkt, act) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [access.jti, access.tokenHash, grantId, access.clientId, access.subject, access.scopes, access.audience, access.issuedAt, access.expiresAt, access.dpopJkt, access.act ? JSON.stringify(access.act) : null],
  );
  if (!refresh) return;
  await client.query(
    `INSERT INTO refresh_tokens (token_hash, grant_id, client_id, scopes, created_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [refresh.tokenHash, grantId, refresh.clientId, refresh.scopes, refresh.createdAt, Math.min(refresh.expiresAt, familyEnd)],
  );
}

/**
 * The token endpoint's writes, each one transaction (docs/security.md REDEEM-ATOMIC,
 * REFRESH-RETRY). Row locks (FOR UPDATE) on the device grant or the presented refresh token make
 * concurrent exchanges of one code or one token take turns across every instance, each deciding
 * on the committed state the one before it left.
 */
export function createPostgresTokenExchanges({ transaction }: Database): TokenExchanges {
  return {
    redeemDeviceCode(redemption): Promise<RedemptionResult> {
      const { deviceGrantId: id, now, grant } = redemption;
      return transaction(async (client) => {
        const row = (await client.query('SELECT * FROM device_grants WHERE id = $1 FOR UPDATE', [id])).rows[0];
        if (!row) return { kind: 'refused' };
        if (row.status === 'approved' && row.expires_at > now) {
          const updated = await client.query(
            `UPDATE device_grants SET status = 'redeemed', grant_id = $2, dpop_jkt = $3, redeemed_at = $4 WHERE id = $1 RETURNING *`,
            [id, grant.id, redemption.dpopJkt, now],
          );
          await client.query(
            `INSERT INTO grants (id, client_id, user_id, scopes, device_name, device_model, auth_time, created_at,
               expires_at, dpop_jkt, resources) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
            [grant.id, grant.clientId, grant.userId, grant.scopes, grant.deviceName, grant.deviceModel, grant.authTime, grant.createdAt, grant.expiresAt, grant.dpopJkt, grant.resources],
          );
          await insertTokens(client, grant.id, grant.expiresAt, redemption.accessToken, redemption.refreshToken);
          return { kind: 'redeemed', grantId: grant.id, deviceGrant: toDeviceGrant(updated.rows[0]) };
        }
        // Already redeemed: a retry of the same client with the same key, within the window, whose
        // family is live and has not used its refresh token yet (docs/security.md REDEEM-RETRY).
        if (row.status !== 'redeemed' || row.client_id !== redemption.clientId || row.grant_id === null) return { kind: 'refused' };
        if ((row.dpop_jkt ?? null) !== redemption.dpopJkt) return { kind: 'refused' };
        if (typeof row.redeemed_at !== 'number' || now - row.redeemed_at >= redemption.retryWindowMs) return { kind: 'refused' };
        const grantId = row.grant_id as string;
        const family = (await client.query('SELECT * FROM grants WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2 FOR UPDATE', [grantId, now])).rows[0];
        if (!family) return { kind: 'refused' };
        const used = await client.query('SELECT 1 FROM refresh_tokens WHERE grant_id = $1 AND successor_hash IS NOT NULL LIMIT 1', [grantId]);
        if (used.rowCount) return { kind: 'refused' };
        // A superseded token is marked rotated as well as revoked: presenting it later is reuse.
        await client.query('UPDATE refresh_tokens SET rotated_at = $2, revoked_at = $2 WHERE grant_id = $1 AND rotated_at IS NULL AND revoked_at IS NULL', [grantId, now]);
        await client.query('UPDATE access_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL', [grantId, now]);
        await insertTokens(client, grantId, family.expires_at as number, redemption.accessToken, redemption.refreshToken);
        return { kind: 'retried', grantId, deviceGrant: toDeviceGrant(row) };
      });
    },

    refresh(exchange): Promise<RefreshResult> {
      const { presentedHash, now } = exchange;
      return transaction(async (client) => {
        // Locks in one order everywhere, the family's row first (as a redemption retry and a
        // revocation take them), so concurrent exchanges of one family take turns, never deadlock.
        const owner = (await client.query('SELECT grant_id FROM refresh_tokens WHERE token_hash = $1', [presentedHash])).rows[0];
        if (!owner) return { kind: 'invalid' };
        const grantId = owner.grant_id as string;
        const family = (await client.query('SELECT expires_at FROM grants WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2 FOR UPDATE', [grantId, now])).rows[0];
        if (!family) return { kind: 'invalid' };
        const row = (await client.query('SELECT * FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE', [presentedHash])).rows[0];
        const previous = toRefreshToken(row);
        const familyEnd = family.expires_at as number;
        const successor = exchange.successor;
        const touch = () => client.query('UPDATE grants SET last_used_at = $2 WHERE id = $1', [grantId, now]);
        if (previous.rotatedAt === null) {
          if (previous.revokedAt !== null || previous.expiresAt <= now) return { kind: 'invalid' };
          await client.query('UPDATE refresh_tokens SET rotated_at = $2, successor_hash = $3 WHERE token_hash = $1', [presentedHash, now, successor.tokenHash]);
          await insertTokens(client, grantId, familyEnd, exchange.accessToken, successor);
          await touch();
          return { kind: 'rotated', previous };
        }
        // RFC 9700 §4.14.2 with a short grace (docs/security.md REFRESH-RETRY): the immediate
        // predecessor of a successor nobody has used yet, within the window of its rotation, gets
        // a new successor in place of that one. Anything else rotated is reuse.
        const inWindow = previous.revokedAt === null && now - previous.rotatedAt < exchange.retryWindowMs;
        const superseded = inWindow && row.successor_hash
          ? await client.query(
              'UPDATE refresh_tokens SET rotated_at = $2, revoked_at = $2 WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL',
              [row.successor_hash, now],
            )
          : null;
        if (superseded?.rowCount === 1) {
          await client.query('UPDATE refresh_tokens SET successor_hash = $2 WHERE token_hash = $1', [presentedHash, successor.tokenHash]);
          await insertTokens(client, grantId, familyEnd, exchange.accessToken, successor);
          await touch();
          return { kind: 'retried', previous };
        }
        await client.query('UPDATE grants SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL', [grantId, now, exchange.reuseReason]);
        await client.query('UPDATE refresh_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL', [grantId, now]);
        await client.query('UPDATE access_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL', [grantId, now]);
        return { kind: 'reused', previous };
      });
    },
  };
}
