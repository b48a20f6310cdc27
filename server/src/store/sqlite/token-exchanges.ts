import type Database from 'better-sqlite3';
import { createTurnBatch } from '../turn-batch.ts';
import type { DeviceCodeRedemption, NewAccessToken, NewRefreshToken, RedemptionResult, RefreshExchange, RefreshResult, TokenExchanges } from '../types.ts';
import { joinList, toDeviceGrant, toRefreshToken, type Batched, type Row } from './columns.ts';

/**
 * The token endpoint's writes, each one all-or-nothing (docs/security.md REDEEM-ATOMIC,
 * REFRESH-RETRY). They join the per-turn group commit (../turn-batch.ts): the exchanges of one
 * event-loop turn share one transaction, each inside a savepoint of its own, so one that throws
 * leaves nothing behind while the others commit; every caller is answered after the commit.
 */
export function createSqliteTokenExchanges(db: Database.Database): Batched<TokenExchanges> {
  const q = {
    deviceGrant: db.prepare('SELECT * FROM device_grants WHERE id = ?'),
    redeem: db.prepare(`UPDATE device_grants SET status = 'redeemed', grant_id = @grantId, dpop_jkt = @jkt, redeemed_at = @now
      WHERE id = @id AND status = 'approved' AND expires_at > @now`),
    insertGrant: db.prepare(`INSERT INTO grants (id, client_id, user_id, scopes, device_name, device_model, auth_time,
      created_at, expires_at, dpop_jkt, resources) VALUES (@id, @clientId, @userId, @scopes, @deviceName, @deviceModel, @authTime,
      @createdAt, @expiresAt, @dpopJkt, @resources)`),
    liveGrant: db.prepare('SELECT * FROM grants WHERE id = ? AND revoked_at IS NULL AND expires_at > ?'),
    familyUsed: db.prepare('SELECT 1 FROM refresh_tokens WHERE grant_id = ? AND successor_hash IS NOT NULL LIMIT 1'),
    // A superseded token is marked rotated as well as revoked: presenting it later is reuse.
    supersedeRefresh: db.prepare(`UPDATE refresh_tokens SET rotated_at = @now, revoked_at = @now
      WHERE grant_id = @grantId AND rotated_at IS NULL AND revoked_at IS NULL`),
    revokeAccess: db.prepare('UPDATE access_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL'),
    insertRefresh: db.prepare(`INSERT INTO refresh_tokens (token_hash, grant_id, client_id, scopes, created_at, expires_at)
      VALUES (@tokenHash, @grantId, @clientId, @scopes, @createdAt, @expiresAt)`),
    insertAccess: db.prepare(`INSERT INTO access_tokens (jti, token_hash, grant_id, client_id, subject, scopes, audience,
      issued_at, expires_at, dpop_jkt, act) VALUES (@jti, @tokenHash, @grantId, @clientId, @subject, @scopes, @audience,
      @issuedAt, @expiresAt, @dpopJkt, @act)`),
    refreshToken: db.prepare('SELECT * FROM refresh_tokens WHERE token_hash = ?'),
    rotate: db.prepare('UPDATE refresh_tokens SET rotated_at = @now, successor_hash = @successor WHERE token_hash = @hash'),
    resucceed: db.prepare('UPDATE refresh_tokens SET successor_hash = @successor WHERE token_hash = @hash'),
    supersedeOne: db.prepare('UPDATE refresh_tokens SET rotated_at = @now, revoked_at = @now WHERE token_hash = @hash'),
    touch: db.prepare('UPDATE grants SET last_used_at = ? WHERE id = ?'),
    revokeGrant: db.prepare('UPDATE grants SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL'),
    revokeFamilyRefresh: db.prepare('UPDATE refresh_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL'),
  };

  /** The new tokens, under the family `grantId`; a refresh token never outlives its family. */
  function insertTokens(grantId: string, familyEnd: number, access: NewAccessToken, refresh: NewRefreshToken | null): void {
    q.insertAccess.run({ ...access, grantId, scopes: joinList(access.scopes), act: access.act ? JSON.stringify(access.act) : null });
    if (refresh) q.insertRefresh.run({ ...refresh, grantId, expiresAt: Math.min(refresh.expiresAt, familyEnd), scopes: joinList(refresh.scopes) });
  }

  function redeemDeviceCode(redemption: DeviceCodeRedemption): RedemptionResult {
    const { deviceGrantId: id, now, grant } = redemption;
    if (q.redeem.run({ id, grantId: grant.id, jkt: redemption.dpopJkt, now }).changes === 1) {
      q.insertGrant.run({ ...grant, scopes: joinList(grant.scopes), resources: joinList(grant.resources) });
      insertTokens(grant.id, grant.expiresAt, redemption.accessToken, redemption.refreshToken);
      return { kind: 'redeemed', grantId: grant.id, deviceGrant: toDeviceGrant(q.deviceGrant.get(id) as Row) };
    }
    // Already redeemed: a retry of the same client with the same key, within the window, whose
    // family is live and has not used its refresh token yet (docs/security.md REDEEM-RETRY).
    const row = q.deviceGrant.get(id) as Row | undefined;
    if (!row || row.status !== 'redeemed' || row.client_id !== redemption.clientId || row.grant_id === null) return { kind: 'refused' };
    if ((row.dpop_jkt ?? null) !== redemption.dpopJkt) return { kind: 'refused' };
    if (typeof row.redeemed_at !== 'number' || now - row.redeemed_at >= redemption.retryWindowMs) return { kind: 'refused' };
    const grantId = row.grant_id as string;
    const family = q.liveGrant.get(grantId, now) as Row | undefined;
    if (!family || q.familyUsed.get(grantId)) return { kind: 'refused' };
    q.supersedeRefresh.run({ now, grantId });
    q.revokeAccess.run(now, grantId);
    insertTokens(grantId, family.expires_at as number, redemption.accessToken, redemption.refreshToken);
    return { kind: 'retried', grantId, deviceGrant: toDeviceGrant(row) };
  }

  function refresh(exchange: RefreshExchange): RefreshResult {
    const { presentedHash, now } = exchange;
    const row = q.refreshToken.get(presentedHash) as Row | undefined;
    if (!row) return { kind: 'invalid' };
    const previous = toRefreshToken(row);
    const family = q.liveGrant.get(previous.grantId, now) as Row | undefined;
    if (!family) return { kind: 'invalid' };
    const successor = { ...exchange.successor, grantId: previous.grantId };
    const access = { ...exchange.accessToken, grantId: previous.grantId };
    const familyEnd = family.expires_at as number;
    if (previous.rotatedAt === null) {
      if (previous.revokedAt !== null || previous.expiresAt <= now) return { kind: 'invalid' };
      q.rotate.run({ now, successor: successor.tokenHash, hash: presentedHash });
      insertTokens(previous.grantId, familyEnd, access, successor);
      q.touch.run(now, previous.grantId);
      return { kind: 'rotated', previous };
    }
    // RFC 9700 §4.14.2 with a short grace (docs/security.md REFRESH-RETRY): the immediate
    // predecessor of a successor nobody has used yet, within the window of its rotation, gets a
    // new successor in place of that one. Anything else rotated is reuse.
    const successorHash = row.successor_hash as string | null;
    const current = successorHash ? (q.refreshToken.get(successorHash) as Row | undefined) : undefined;
    const inWindow = previous.revokedAt === null && now - previous.rotatedAt < exchange.retryWindowMs;
    if (inWindow && current && current.rotated_at === null && current.revoked_at === null) {
      q.supersedeOne.run({ now, hash: successorHash });
      q.resucceed.run({ successor: successor.tokenHash, hash: presentedHash });
      insertTokens(previous.grantId, familyEnd, access, successor);
      q.touch.run(now, previous.grantId);
      return { kind: 'retried', previous };
    }
    q.revokeGrant.run(now, exchange.reuseReason, previous.grantId);
    q.revokeFamilyRefresh.run(now, previous.grantId);
    q.revokeAccess.run(now, previous.grantId);
    return { kind: 'reused', previous };
  }

  type Exchange = { run: () => RedemptionResult | RefreshResult };
  // Each exchange in a savepoint (a nested better-sqlite3 transaction): a throw rolls back that
  // exchange alone and rejects its caller alone.
  const one = db.transaction((exchange: Exchange) => exchange.run());
  const batch = db.transaction((exchanges: Exchange[]) =>
    exchanges.map((exchange) => {
      try {
        return one(exchange);
      } catch (error) {
        return error instanceof Error ? error : new Error(String(error));
      }
    }),
  );
  // Reads, then writes: .immediate() (see sqlite-store.ts).
  const exchanges = createTurnBatch<Exchange, RedemptionResult | RefreshResult>((items) => batch.immediate(items));

  return {
    repository: {
      async redeemDeviceCode(redemption) {
        return (await exchanges.add({ run: () => redeemDeviceCode(redemption) })) as RedemptionResult;
      },
      async refresh(exchange) {
        return (await exchanges.add({ run: () => refresh(exchange) })) as RefreshResult;
      },
    },
    flush: () => exchanges.flush(),
  };
}
