import Database from 'better-sqlite3';
import type {
  AuditEventRecord,
  ClientRecord,
  Decision,
  DeviceGrantRecord,
  NewDeviceGrant,
  PollVerdict,
  RefreshTokenRecord,
  RotateResult,
  SessionRecord,
  SigningKeyRecord,
  Store,
} from '../types.ts';
import { UserCodeTakenError, UsernameTakenError } from '../types.ts';
import { sqliteMigrations } from './migrations.ts';
import { createRowMappers, type Row } from '../rows.ts';
import { createPollState } from './poll-state.ts';
import { startWalCheckpointer, type WalCheckpointer } from './wal-checkpointer.ts';

const joinList = (values: readonly string[]): string => values.join(' ');

/** A cached record is shared by every request: frozen, so no caller can change it for the others. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

const { toClient, toUser, toDeviceGrant, toGrant, toRefreshToken, toAccessToken, toSigningKey, toAuditEvent, toSession } =
  createRowMappers({
    list: (value) => (typeof value === 'string' && value !== '' ? value.split(' ') : []),
    bool: (value) => value === 1,
    json: <T>(value: unknown) => (typeof value === 'string' ? (JSON.parse(value) as T) : null),
  });

/** Applies pending migrations; exported for the CLI's `migrate` and for tests. */
export function migrateSqlite(db: Database.Database): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let version = current; version < sqliteMigrations.length; version++) {
    db.transaction(() => {
      db.exec(sqliteMigrations[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
  return sqliteMigrations.length;
}

/**
 * SQLite store (better-sqlite3, WAL). better-sqlite3 is synchronous, so every conditional
 * update below runs to completion before another request's code can interleave; across
 * processes (the CLI beside a running server) SQLite's own locking serializes writers.
 */
export function createSqliteStore(options: {
  filename: string;
  /** WAL checkpoints on a worker thread once the log grows (default); false: SQLite's own. */
  backgroundCheckpoints?: boolean;
}): Store {
  const db = new Database(options.filename);
  db.pragma('journal_mode = WAL');
  // NORMAL is durable across application crashes in WAL mode; only an OS crash may lose the
  // last transactions, never corrupt the database.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  migrateSqlite(db);
  // Checkpoints run on a worker thread (wal-checkpointer.ts); the commit-time checkpoint stays
  // only as a safety net, at 10 times SQLite's default log size. Its failures lose nothing (the
  // log keeps every commit) and the safety net takes over, so they are not reported further.
  let checkpointer: WalCheckpointer | undefined;
  if (options.backgroundCheckpoints !== false) {
    db.pragma('wal_autocheckpoint = 10000');
    checkpointer = startWalCheckpointer({ filename: options.filename });
  }

  const q = {
    clientGet: db.prepare('SELECT * FROM clients WHERE client_id = ?'),
    clientList: db.prepare('SELECT * FROM clients ORDER BY client_id'),
    clientPut: db.prepare(`INSERT OR REPLACE INTO clients (client_id, name, secret_hash, grant_types, scopes,
      device_code_lifetime, poll_interval, access_token_format, may_introspect, audience, disabled, dpop_required, jwks, jwks_uri, created_at)
      VALUES (@clientId, @name, @secretHash, @grantTypes, @scopes, @deviceCodeLifetime, @pollInterval,
      @accessTokenFormat, @mayIntrospect, @audience, @disabled, @dpopRequired, @jwks, @jwksUri, @createdAt)`),
    clientRemove: db.prepare('DELETE FROM clients WHERE client_id = ?'),
    dataVersion: db.prepare('PRAGMA data_version').pluck(),

    userGet: db.prepare('SELECT * FROM users WHERE id = ?'),
    userByName: db.prepare('SELECT * FROM users WHERE username = ?'),
    userList: db.prepare('SELECT * FROM users ORDER BY username'),
    userInsert: db.prepare(`INSERT INTO users (id, username, password_hash, name, email, email_verified, disabled, created_at)
      VALUES (@id, @username, @passwordHash, @name, @email, @emailVerified, @disabled, @createdAt)`),
    userSetPassword: db.prepare('UPDATE users SET password_hash = ? WHERE id = ?'),
    userRemove: db.prepare('DELETE FROM users WHERE id = ?'),

    deviceLiveByUserCode: db.prepare('SELECT * FROM device_grants WHERE user_code = ? AND expires_at > ?'),
    deviceInsert: db.prepare(`INSERT INTO device_grants (id, device_code_hash, user_code, client_id, scopes, device_name,
      device_model, requested_from, push_key, status, created_at, expires_at, interval)
      VALUES (@id, @deviceCodeHash, @userCode, @clientId, @scopes, @deviceName, @deviceModel, @requestedFrom,
      @pushKey, 'pending', @createdAt, @expiresAt, @interval)`),
    deviceByHash: db.prepare('SELECT * FROM device_grants WHERE device_code_hash = ?'),
    deviceById: db.prepare('SELECT * FROM device_grants WHERE id = ?'),
    deviceGrowInterval: db.prepare('UPDATE device_grants SET interval = MAX(interval, @interval) WHERE device_code_hash = @hash'),
    deviceApprove: db.prepare(`UPDATE device_grants SET status = 'approved', user_id = @userId, granted_scopes = @scopes,
      auth_time = @authTime, decided_at = @now WHERE id = @id AND status = 'pending' AND expires_at > @now`),
    deviceDeny: db.prepare(`UPDATE device_grants SET status = 'denied', user_id = @userId, decided_at = @now
      WHERE id = @id AND status = 'pending' AND expires_at > @now`),
    deviceRedeem: db.prepare(`UPDATE device_grants SET status = 'redeemed', grant_id = @grantId, dpop_jkt = @jkt
      WHERE id = @id AND status = 'approved' AND expires_at > @now`),
    deviceExpiredPending: db.prepare(`SELECT * FROM device_grants WHERE expires_at <= ? AND status = 'pending'
      AND expiry_reported = 0 ORDER BY expires_at LIMIT ?`),
    deviceMarkReported: db.prepare('UPDATE device_grants SET expiry_reported = 1 WHERE id = ?'),
    deviceSweep: db.prepare('DELETE FROM device_grants WHERE expires_at <= ?'),

    grantInsert: db.prepare(`INSERT INTO grants (id, client_id, user_id, scopes, device_name, device_model, auth_time,
      created_at, expires_at, dpop_jkt) VALUES (@id, @clientId, @userId, @scopes, @deviceName, @deviceModel, @authTime,
      @createdAt, @expiresAt, @dpopJkt)`),
    grantGet: db.prepare('SELECT * FROM grants WHERE id = ?'),
    grantsByUser: db.prepare('SELECT * FROM grants WHERE user_id = ? ORDER BY created_at DESC'),
    grantsAll: db.prepare('SELECT * FROM grants ORDER BY created_at DESC'),
    grantsActive: db.prepare('SELECT * FROM grants WHERE revoked_at IS NULL AND expires_at > ? ORDER BY created_at DESC'),
    grantTouch: db.prepare('UPDATE grants SET last_used_at = ? WHERE id = ?'),
    grantRevoke: db.prepare('UPDATE grants SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL'),
    refreshRevokeByGrant: db.prepare('UPDATE refresh_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL'),
    accessRevokeByGrant: db.prepare('UPDATE access_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL'),

    refreshInsert: db.prepare(`INSERT INTO refresh_tokens (token_hash, grant_id, client_id, scopes, created_at, expires_at)
      VALUES (@tokenHash, @grantId, @clientId, @scopes, @createdAt, @expiresAt)`),
    refreshFind: db.prepare('SELECT * FROM refresh_tokens WHERE token_hash = ?'),
    refreshMarkRotated: db.prepare(`UPDATE refresh_tokens SET rotated_at = ? WHERE token_hash = ? AND rotated_at IS NULL
      AND revoked_at IS NULL AND expires_at > ?`),
    refreshRevoke: db.prepare('UPDATE refresh_tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL'),
    refreshSweep: db.prepare('DELETE FROM refresh_tokens WHERE expires_at <= ?'),

    accessInsert: db.prepare(`INSERT INTO access_tokens (jti, token_hash, grant_id, client_id, subject, scopes, audience,
      issued_at, expires_at, dpop_jkt) VALUES (@jti, @tokenHash, @grantId, @clientId, @subject, @scopes, @audience,
      @issuedAt, @expiresAt, @dpopJkt)`),
    accessByJti: db.prepare('SELECT * FROM access_tokens WHERE jti = ?'),
    accessByHash: db.prepare('SELECT * FROM access_tokens WHERE token_hash = ?'),
    accessRevoke: db.prepare('UPDATE access_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL'),
    accessSweep: db.prepare('DELETE FROM access_tokens WHERE expires_at <= ?'),

    keysList: db.prepare('SELECT * FROM signing_keys ORDER BY created_at'),
    keysDelete: db.prepare('DELETE FROM signing_keys'),
    keysInsert: db.prepare(`INSERT INTO signing_keys (kid, alg, sealed_private_jwk, public_jwk, state, created_at,
      activated_at, retire_after) VALUES (@kid, @alg, @sealedPrivateJwk, @publicJwk, @state, @createdAt, @activatedAt, @retireAfter)`),

    sessionInsert: db.prepare(`INSERT INTO sessions (id_hash, user_id, created_at, expires_at, auth_time)
      VALUES (@idHash, @userId, @createdAt, @expiresAt, @authTime)`),
    sessionGet: db.prepare('SELECT * FROM sessions WHERE id_hash = ? AND expires_at > ?'),
    sessionRemove: db.prepare('DELETE FROM sessions WHERE id_hash = ?'),
    sessionSweep: db.prepare('DELETE FROM sessions WHERE expires_at <= ?'),

    auditInsert: db.prepare('INSERT INTO audit_events (at, event, fields) VALUES (?, ?, ?)'),
    auditList: db.prepare('SELECT * FROM audit_events WHERE id > ? AND at >= ? ORDER BY id LIMIT ?'),
    auditTail: db.prepare('SELECT * FROM (SELECT * FROM audit_events ORDER BY id DESC LIMIT ?) ORDER BY id'),
  };

  // Every request looks its client up, and a read right after a busy turn's commits cost about
  // 12 µs, a tenth of a poll (issue 6, bench). So clients are cached here, frozen, and dropped
  // when this store changes one or when any other connection has committed (the CLI beside the
  // server: PRAGMA data_version moves then). That check is itself a read (~4-12 µs), so it runs
  // at most once a millisecond: a client blocked from the CLI is refused by every request that
  // starts a millisecond after the CLI's commit. Unknown ids are cached too (as null), bounded.
  const CLIENT_CACHE_MAX = 10_000;
  const CLIENT_CACHE_RECHECK_MS = 1;
  const clientCache = new Map<string, ClientRecord | null>();
  let clientCacheVersion: unknown;
  let clientCacheCheckedAt = -Infinity;

  // Transactions that read before they write are run with .immediate() below: they take the write
  // lock first, so a writer in another process (the CLI beside a running server) cannot make them
  // fail half-way with SQLITE_BUSY_SNAPSHOT; busy_timeout makes them wait instead.
  // Group commit: the device grants created in one event-loop turn share one transaction, each
  // still checked for a live user code of the same value before its insert, and each caller
  // answered only after the commit. One commit per device authorization was a third of its CPU
  // time (issue 6 bench); a turn under load holds dozens.
  const createDeviceGrants = db.transaction((grants: NewDeviceGrant[]): Array<UserCodeTakenError | null> =>
    grants.map((grant) => {
      if (q.deviceLiveByUserCode.get(grant.userCode, grant.createdAt)) return new UserCodeTakenError();
      q.deviceInsert.run({ ...grant, scopes: joinList(grant.scopes) });
      return null;
    }),
  );
  let grantQueue: Array<{ grant: NewDeviceGrant; done: (error?: unknown) => void }> = [];
  function flushDeviceGrants(): void {
    const batch = grantQueue;
    if (batch.length === 0) return;
    grantQueue = [];
    let outcomes: Array<UserCodeTakenError | null>;
    try {
      outcomes = createDeviceGrants.immediate(batch.map((entry) => entry.grant));
    } catch (error) {
      for (const entry of batch) entry.done(error);
      return;
    }
    batch.forEach((entry, index) => entry.done(outcomes[index] ?? undefined));
  }

  // Poll accounting lives in this process (poll-state.ts): an in-time poll writes nothing, a
  // slow_down writes its grown interval. Group commit, as for device grants: the polls of one
  // event-loop turn share one transaction, in arrival order (two polls of one code in a turn: the
  // second is too soon). Even with nothing to write this matters: every statement outside a
  // transaction takes and drops SQLite's WAL read lock, which made a lone SELECT cost more than
  // the batched UPDATE it replaced (issue 6, bench).
  const pollState = createPollState({
    persistInterval: (hash, interval) => q.deviceGrowInterval.run({ hash, interval }),
  });
  type Poll = { hash: string; clientId: string; now: number; step: number };
  const recordPolls = db.transaction((polls: Poll[]): PollVerdict[] =>
    polls.map(({ hash, clientId, now, step }) => {
      const row = q.deviceByHash.get(hash) as Row | undefined;
      return row && row.client_id === clientId ? pollState.record(toDeviceGrant(row), now, step) : { kind: 'unknown' };
    }),
  );
  let pollQueue: Array<{ poll: Poll; resolve: (verdict: PollVerdict) => void; reject: (error: unknown) => void }> = [];
  function flushPolls(): void {
    const batch = pollQueue;
    if (batch.length === 0) return;
    pollQueue = [];
    let verdicts: PollVerdict[];
    try {
      verdicts = recordPolls.immediate(batch.map((entry) => entry.poll));
    } catch (error) {
      for (const entry of batch) entry.reject(error);
      return;
    }
    batch.forEach((entry, index) => entry.resolve(verdicts[index]!));
  }
  const deviceGrantOf = (row: Row): DeviceGrantRecord => pollState.overlay(toDeviceGrant(row));

  const revokeGrant = db.transaction((id: string, now: number, reason: string): boolean => {
    if (q.grantRevoke.run(now, reason, id).changes !== 1) return false;
    q.refreshRevokeByGrant.run(now, id);
    q.accessRevokeByGrant.run(now, id);
    return true;
  });

  const rotateRefresh = db.transaction(
    (oldHash: string, successor: Omit<RefreshTokenRecord, 'rotatedAt' | 'revokedAt'>, now: number): RotateResult => {
      const row = q.refreshFind.get(oldHash) as Row | undefined;
      if (!row) return { kind: 'invalid' };
      const previous = toRefreshToken(row);
      if (previous.rotatedAt !== null) return { kind: 'reused', previous };
      if (q.refreshMarkRotated.run(now, oldHash, now).changes !== 1) return { kind: 'invalid' };
      q.refreshInsert.run({ ...successor, scopes: joinList(successor.scopes) });
      return { kind: 'rotated', previous };
    },
  );

  const replaceKeys = db.transaction((keys: SigningKeyRecord[]) => {
    q.keysDelete.run();
    for (const key of keys) q.keysInsert.run({ ...key, publicJwk: JSON.stringify(key.publicJwk) });
  });

  // Audit events are written behind the request that records them (services/audit.ts does not
  // block on them; only a decision on a grant waits for its record), so those of one event-loop turn share one transaction: a commit per event was a
  // tenth of a device authorization's CPU time (issue 6, bench). A crash loses at most the events
  // of the turn it happens in, as it would lose the unwritten ones before.
  const insertAuditEvents = db.transaction((events: Array<Omit<AuditEventRecord, 'id'>>) => {
    for (const event of events) q.auditInsert.run(event.at, event.event, JSON.stringify(event.fields));
  });
  let auditQueue: Array<{ event: Omit<AuditEventRecord, 'id'>; done: (error?: unknown) => void }> = [];
  function flushAuditEvents(): void {
    const batch = auditQueue;
    if (batch.length === 0) return;
    auditQueue = [];
    try {
      insertAuditEvents(batch.map((entry) => entry.event));
    } catch (error) {
      for (const entry of batch) entry.done(error);
      return;
    }
    for (const entry of batch) entry.done();
  }

  const listExpiredPending = db.transaction((now: number, limit: number) => {
    const rows = (q.deviceExpiredPending.all(now, limit) as Row[]).map(deviceGrantOf);
    for (const row of rows) q.deviceMarkReported.run(row.id);
    return rows;
  });

  return {
    clients: {
      async get(clientId) {
        const checkedAt = performance.now();
        if (checkedAt - clientCacheCheckedAt >= CLIENT_CACHE_RECHECK_MS) {
          clientCacheCheckedAt = checkedAt;
          const version = q.dataVersion.get();
          if (version !== clientCacheVersion) {
            clientCache.clear();
            clientCacheVersion = version;
          }
        }
        let client = clientCache.get(clientId);
        if (client === undefined) {
          const row = q.clientGet.get(clientId) as Row | undefined;
          client = row ? deepFreeze(toClient(row)) : null;
          if (clientCache.size >= CLIENT_CACHE_MAX) clientCache.clear();
          clientCache.set(clientId, client);
        }
        return client;
      },
      async list() {
        return (q.clientList.all() as Row[]).map(toClient);
      },
      async put(client) {
        clientCache.delete(client.clientId);
        q.clientPut.run({
          ...client,
          grantTypes: joinList(client.grantTypes),
          scopes: joinList(client.scopes),
          mayIntrospect: client.mayIntrospect ? 1 : 0,
          disabled: client.disabled ? 1 : 0,
          dpopRequired: client.dpopRequired ? 1 : 0,
          jwks: client.jwks ? JSON.stringify(client.jwks) : null,
          jwksUri: client.jwksUri ?? null,
        });
      },
      async remove(clientId) {
        clientCache.delete(clientId);
        return q.clientRemove.run(clientId).changes === 1;
      },
    },
    users: {
      async get(id) {
        const row = q.userGet.get(id) as Row | undefined;
        return row ? toUser(row) : null;
      },
      async getByUsername(username) {
        const row = q.userByName.get(username) as Row | undefined;
        return row ? toUser(row) : null;
      },
      async list() {
        return (q.userList.all() as Row[]).map(toUser);
      },
      async create(user) {
        try {
          q.userInsert.run({ ...user, emailVerified: user.emailVerified ? 1 : 0, disabled: user.disabled ? 1 : 0 });
        } catch (error) {
          if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new UsernameTakenError(user.username);
          throw error;
        }
      },
      async setPassword(id, passwordHash) {
        return q.userSetPassword.run(passwordHash, id).changes === 1;
      },
      async remove(id) {
        return q.userRemove.run(id).changes === 1;
      },
    },
    deviceGrants: {
      create(grant) {
        return new Promise<void>((resolve, reject) => {
          grantQueue.push({ grant, done: (error) => (error === undefined ? resolve() : reject(error)) });
          if (grantQueue.length === 1) setImmediate(flushDeviceGrants);
        });
      },
      async findByDeviceCodeHash(hash) {
        const row = q.deviceByHash.get(hash) as Row | undefined;
        return row ? deviceGrantOf(row) : null;
      },
      async findLiveByUserCode(userCode, now) {
        const row = q.deviceLiveByUserCode.get(userCode, now) as Row | undefined;
        return row ? deviceGrantOf(row) : null;
      },
      async findById(id) {
        const row = q.deviceById.get(id) as Row | undefined;
        return row ? deviceGrantOf(row) : null;
      },
      recordPoll(hash, clientId, now, step) {
        return new Promise<PollVerdict>((resolve, reject) => {
          pollQueue.push({ poll: { hash, clientId, now, step }, resolve, reject });
          if (pollQueue.length === 1) setImmediate(flushPolls);
        });
      },
      async decide(id, decision: Decision, now) {
        const result =
          decision.status === 'approved'
            ? q.deviceApprove.run({
                id,
                now,
                userId: decision.userId,
                scopes: joinList(decision.grantedScopes),
                authTime: decision.authTime,
              })
            : q.deviceDeny.run({ id, now, userId: decision.userId });
        return result.changes === 1;
      },
      async redeem(id, grantId, jkt, now) {
        if (q.deviceRedeem.run({ id, grantId, jkt, now }).changes !== 1) return null;
        return deviceGrantOf(q.deviceById.get(id) as Row);
      },
      async listExpiredPending(now, limit) {
        return listExpiredPending.immediate(now, limit);
      },
      async sweep(now, retainSeconds) {
        pollState.prune(now);
        return q.deviceSweep.run(now - retainSeconds * 1000).changes;
      },
    },
    grants: {
      async create(grant) {
        q.grantInsert.run({ ...grant, scopes: joinList(grant.scopes) });
      },
      async get(id) {
        const row = q.grantGet.get(id) as Row | undefined;
        return row ? toGrant(row) : null;
      },
      async listByUser(userId) {
        return (q.grantsByUser.all(userId) as Row[]).map(toGrant);
      },
      async list({ activeOnly, now }) {
        return ((activeOnly ? q.grantsActive.all(now) : q.grantsAll.all()) as Row[]).map(toGrant);
      },
      async touch(id, now) {
        q.grantTouch.run(now, id);
      },
      async revoke(id, now, reason) {
        return revokeGrant.immediate(id, now, reason);
      },
    },
    refreshTokens: {
      async create(token) {
        q.refreshInsert.run({ ...token, scopes: joinList(token.scopes) });
      },
      async find(hash) {
        const row = q.refreshFind.get(hash) as Row | undefined;
        return row ? toRefreshToken(row) : null;
      },
      async rotate(oldHash, successor, now) {
        return rotateRefresh.immediate(oldHash, successor, now);
      },
      async revoke(hash, now) {
        q.refreshRevoke.run(now, hash);
        const row = q.refreshFind.get(hash) as Row | undefined;
        return row ? toRefreshToken(row) : null;
      },
      async sweep(now) {
        return q.refreshSweep.run(now).changes;
      },
    },
    accessTokens: {
      async create(token) {
        q.accessInsert.run({ ...token, scopes: joinList(token.scopes) });
      },
      async findByJti(jti) {
        const row = q.accessByJti.get(jti) as Row | undefined;
        return row ? toAccessToken(row) : null;
      },
      async findByTokenHash(hash) {
        const row = q.accessByHash.get(hash) as Row | undefined;
        return row ? toAccessToken(row) : null;
      },
      async revoke(jti, now) {
        return q.accessRevoke.run(now, jti).changes === 1;
      },
      async sweep(now) {
        return q.accessSweep.run(now).changes;
      },
    },
    signingKeys: {
      async list() {
        return (q.keysList.all() as Row[]).map(toSigningKey);
      },
      async replaceAll(keys) {
        replaceKeys(keys);
      },
    },
    sessions: {
      async create(session: SessionRecord) {
        q.sessionInsert.run(session);
      },
      async get(idHash, now) {
        const row = q.sessionGet.get(idHash, now) as Row | undefined;
        return row ? toSession(row) : null;
      },
      async remove(idHash) {
        q.sessionRemove.run(idHash);
      },
      async sweep(now) {
        return q.sessionSweep.run(now).changes;
      },
    },
    auditEvents: {
      append(event) {
        return new Promise<void>((resolve, reject) => {
          auditQueue.push({ event, done: (error) => (error === undefined ? resolve() : reject(error)) });
          if (auditQueue.length === 1) setImmediate(flushAuditEvents);
        });
      },
      async list({ afterId = 0, since = 0, limit }) {
        flushAuditEvents();
        return (q.auditList.all(afterId, since, limit) as Row[]).map(toAuditEvent);
      },
      async tail(limit) {
        flushAuditEvents();
        return (q.auditTail.all(limit) as Row[]).map(toAuditEvent);
      },
    },
    async ping() {
      return (db.prepare('SELECT 1 AS ok').get() as Row).ok === 1;
    },
    async close() {
      flushDeviceGrants();
      flushPolls();
      flushAuditEvents();
      await checkpointer?.stop();
      db.close();
    },
  };
}
