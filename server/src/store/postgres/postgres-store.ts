import pg from 'pg';
import type {
  Decision,
  NewDeviceGrant,
  PollVerdict,
  RefreshTokenRecord,
  RotateResult,
  SessionRecord,
  Store,
} from '../types.ts';
import { UserCodeTakenError, UsernameTakenError } from '../types.ts';
import { postgresMigrations } from './migrations.ts';
import { createRowMappers, type Row } from '../rows.ts';

type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * Advisory lock namespaces (the two-key form, whose key space is apart from the one-key form's),
 * so the locks of devicegate never meet those of another application on the same database.
 */
const LOCK_MIGRATIONS = 0x64670001;
const LOCK_USER_CODE = 0x64670002;
/** Store.exclusive: the second key is hashtext(name). */
const LOCK_EXCLUSIVE = 0x64670003;

/** Same tolerance as the SQLite store: absorbs timer and network jitter between polls. */
const POLL_TOLERANCE_MS = 250;

const INT8_OID = 20;

/**
 * Epoch milliseconds live in BIGINT, which pg returns as strings (an int8 may exceed 2^53). Ours
 * never do, so they are parsed back to numbers, and refused loudly if one ever would lose digits.
 */
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`bigint ${text} does not fit a JavaScript number`);
  return value;
}

const types: pg.CustomTypesConfig = {
  // The parser is set per pool, not on pg's global type table, so nothing else in the process
  // that uses pg is changed.
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

const { toClient, toUser, toDeviceGrant, toGrant, toRefreshToken, toAccessToken, toSigningKey, toAuditEvent, toSession } =
  createRowMappers({
    list: (value) => (Array.isArray(value) ? (value as string[]) : []),
    bool: (value) => value === true,
    json: <T>(value: unknown) => (value === null || value === undefined ? null : (value as T)),
  });

/** Runs `work` in one transaction on one pooled connection; rolls back when it throws. */
async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    // A connection that cannot even roll back is discarded, not returned to the pool.
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

/**
 * Applies pending migrations, each in its own transaction under a transaction-scoped advisory
 * lock: when several instances start at once against a fresh database, one applies a migration
 * while the others wait on the lock, then find it recorded and skip it. Returns the versions this
 * call applied (exported for the CLI and for tests).
 */
export async function migratePostgres(pool: pg.Pool): Promise<number[]> {
  const applied: number[] = [];
  for (let index = 0; index < postgresMigrations.length; index++) {
    const version = index + 1;
    await inTransaction(pool, async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(${LOCK_MIGRATIONS}, 0)`);
      // Inside the lock: concurrent CREATE TABLE IF NOT EXISTS can otherwise collide.
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY,
        applied_at BIGINT NOT NULL
      )`);
      const done = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [version]);
      if (done.rowCount) return;
      await client.query(postgresMigrations[index]!);
      await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [version, Date.now()]);
      applied.push(version);
    });
  }
  return applied;
}

export interface PostgresStoreOptions {
  /** postgres:// URL (config `databaseUrl`). */
  connectionString: string;
  /** Extra pool settings (size, timeouts, TLS); the connection string and type parsers stay ours. */
  pool?: pg.PoolConfig;
  /**
   * Errors of idle pooled connections (the server restarted, a proxy cut the line). The pool has
   * already dropped such a connection and the next query opens a new one; without a listener,
   * Node would end the process on the pool's 'error' event.
   */
  onIdleError?: (error: Error) => void;
}

/**
 * PostgreSQL store: many appliance instances share one database, so every single-use and
 * rotation guarantee is made by the database (conditional UPDATEs, row locks, advisory locks in
 * transactions), never by process memory. Transactions run at READ COMMITTED: a conditional
 * UPDATE that waited on a concurrent one re-checks its WHERE against the committed row, so of
 * many callers exactly one matches.
 */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const pool = new pg.Pool({
    max: 10,
    // A database that does not answer fails requests within seconds rather than hanging them.
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    application_name: 'devicegate',
    ...options.pool,
    connectionString: options.connectionString,
    types,
  });
  pool.on('error', (error) => options.onIdleError?.(error));
  try {
    await migratePostgres(pool);
  } catch (error) {
    await pool.end();
    throw error;
  }

  const one = async (sql: string, values: unknown[]): Promise<Row | null> => (await pool.query(sql, values)).rows[0] ?? null;
  const all = async (sql: string, values: unknown[] = []): Promise<Row[]> => (await pool.query(sql, values)).rows;
  const changes = async (sql: string, values: unknown[]): Promise<number> => (await pool.query(sql, values)).rowCount ?? 0;
  const transaction = <T>(work: (client: pg.PoolClient) => Promise<T>) => inTransaction(pool, work);

  const insertRefreshToken = (client: Queryable, token: Omit<RefreshTokenRecord, 'rotatedAt' | 'revokedAt'>) =>
    client.query(
      `INSERT INTO refresh_tokens (token_hash, grant_id, client_id, scopes, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [token.tokenHash, token.grantId, token.clientId, token.scopes, token.createdAt, token.expiresAt],
    );

  let closing: Promise<void> | undefined;

  return {
    clients: {
      async get(clientId) {
        const row = await one('SELECT * FROM clients WHERE client_id = $1', [clientId]);
        return row ? toClient(row) : null;
      },
      async list() {
        return (await all('SELECT * FROM clients ORDER BY client_id')).map(toClient);
      },
      async put(client) {
        await pool.query(
          `INSERT INTO clients (client_id, name, secret_hash, grant_types, scopes, device_code_lifetime, poll_interval,
             access_token_format, may_introspect, audience, disabled, dpop_required, created_at, jwks, jwks_uri)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
           ON CONFLICT (client_id) DO UPDATE SET name = EXCLUDED.name, secret_hash = EXCLUDED.secret_hash,
             grant_types = EXCLUDED.grant_types, scopes = EXCLUDED.scopes,
             device_code_lifetime = EXCLUDED.device_code_lifetime, poll_interval = EXCLUDED.poll_interval,
             access_token_format = EXCLUDED.access_token_format, may_introspect = EXCLUDED.may_introspect,
             audience = EXCLUDED.audience, disabled = EXCLUDED.disabled, dpop_required = EXCLUDED.dpop_required,
             created_at = EXCLUDED.created_at, jwks = EXCLUDED.jwks, jwks_uri = EXCLUDED.jwks_uri`,
          [
            client.clientId,
            client.name,
            client.secretHash,
            client.grantTypes,
            client.scopes,
            client.deviceCodeLifetime,
            client.pollInterval,
            client.accessTokenFormat,
            client.mayIntrospect,
            client.audience,
            client.disabled,
            client.dpopRequired,
            client.createdAt,
            client.jwks ? JSON.stringify(client.jwks) : null,
            client.jwksUri ?? null,
          ],
        );
      },
      async remove(clientId) {
        return (await changes('DELETE FROM clients WHERE client_id = $1', [clientId])) === 1;
      },
    },

    users: {
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
        try {
          await pool.query(
            `INSERT INTO users (id, username, password_hash, name, email, email_verified, disabled, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
            [user.id, user.username, user.passwordHash, user.name, user.email, user.emailVerified, user.disabled, user.createdAt],
          );
        } catch (error) {
          const { code, constraint } = error as { code?: string; constraint?: string };
          // 23505: unique_violation.
          if (code === '23505' && constraint === 'users_username_unique') throw new UsernameTakenError(user.username);
          throw error;
        }
      },
      async setPassword(id, passwordHash) {
        return (await changes('UPDATE users SET password_hash = $2 WHERE id = $1', [id, passwordHash])) === 1;
      },
      async remove(id) {
        return (await changes('DELETE FROM users WHERE id = $1', [id])) === 1;
      },
    },

    deviceGrants: {
      async create(grant: NewDeviceGrant) {
        // A user code is unique among live grants only; an expired holder keeps its row (a late
        // poll still answers expired_token) while its code may be handed out again. A partial
        // unique index cannot say "live" (it depends on the time), so creates of one code are
        // serialized by an advisory lock taken before the check: the second creator waits for the
        // first to commit, and its check (a new statement, a new snapshot) then sees that row.
        await transaction(async (client) => {
          await client.query(`SELECT pg_advisory_xact_lock(${LOCK_USER_CODE}, hashtext($1))`, [grant.userCode]);
          const inserted = await client.query(
            `INSERT INTO device_grants (id, device_code_hash, user_code, client_id, scopes, device_name, device_model,
               requested_from, push_key, status, created_at, expires_at, poll_interval)
             -- Explicit types: parameters in a SELECT list are not typed by the INSERT's columns.
             SELECT $1::text, $2::text, $3::text, $4::text, $5::text[], $6::text, $7::text, $8::text, $9::text,
               'pending', $10::bigint, $11::bigint, $12::integer
             WHERE NOT EXISTS (SELECT 1 FROM device_grants WHERE user_code = $3 AND expires_at > $10)`,
            [
              grant.id,
              grant.deviceCodeHash,
              grant.userCode,
              grant.clientId,
              grant.scopes,
              grant.deviceName,
              grant.deviceModel,
              grant.requestedFrom,
              grant.pushKey,
              grant.createdAt,
              grant.expiresAt,
              grant.interval,
            ],
          );
          if (inserted.rowCount !== 1) throw new UserCodeTakenError();
        });
      },
      async findByDeviceCodeHash(hash) {
        const row = await one('SELECT * FROM device_grants WHERE device_code_hash = $1', [hash]);
        return row ? toDeviceGrant(row) : null;
      },
      async findLiveByUserCode(userCode, now) {
        const row = await one('SELECT * FROM device_grants WHERE user_code = $1 AND expires_at > $2', [userCode, now]);
        return row ? toDeviceGrant(row) : null;
      },
      async findById(id) {
        const row = await one('SELECT * FROM device_grants WHERE id = $1', [id]);
        return row ? toDeviceGrant(row) : null;
      },
      async recordPoll(hash, clientId, now, step): Promise<PollVerdict> {
        // RFC 8628 §3.5, in one statement: every SET expression reads the row as it was before
        // this poll, and the row lock makes concurrent polls of one code take turns, each judged
        // against the poll before it. Only a pending grant is throttled (a device told of its
        // outcome by push redeems at once). The verdict is written to the row so RETURNING can
        // report it.
        const inTime = `(status <> 'pending' OR last_polled_at IS NULL
          OR $2::bigint - last_polled_at >= poll_interval::bigint * 1000 - ${POLL_TOLERANCE_MS})`;
        const row = await one(
          `UPDATE device_grants SET
             last_polled_at = $2::bigint,
             last_poll_slow_down = NOT ${inTime},
             poll_interval = CASE WHEN ${inTime} THEN poll_interval ELSE poll_interval + $3::integer END
           WHERE device_code_hash = $1 AND client_id = $4
           RETURNING *`,
          [hash, now, step, clientId],
        );
        if (!row) return { kind: 'unknown' };
        return { kind: row.last_poll_slow_down ? 'slow_down' : 'ok', grant: toDeviceGrant(row) };
      },
      async decide(id, decision: Decision, now) {
        const moved =
          decision.status === 'approved'
            ? await changes(
                `UPDATE device_grants SET status = 'approved', user_id = $2, granted_scopes = $3, auth_time = $4,
                   decided_at = $5 WHERE id = $1 AND status = 'pending' AND expires_at > $5`,
                [id, decision.userId, decision.grantedScopes, decision.authTime, now],
              )
            : await changes(
                `UPDATE device_grants SET status = 'denied', user_id = $2, decided_at = $3
                 WHERE id = $1 AND status = 'pending' AND expires_at > $3`,
                [id, decision.userId, now],
              );
        return moved === 1;
      },
      async redeem(id, grantId, jkt, now) {
        // RFC 8628 §3.5: one winner. Concurrent callers wait on the row lock, then re-check the
        // WHERE against the committed row ('redeemed') and match nothing.
        const row = await one(
          `UPDATE device_grants SET status = 'redeemed', grant_id = $2, dpop_jkt = $3
           WHERE id = $1 AND status = 'approved' AND expires_at > $4 RETURNING *`,
          [id, grantId, jkt, now],
        );
        return row ? toDeviceGrant(row) : null;
      },
      async listExpiredPending(now, limit) {
        // Several instances sweep at once: SKIP LOCKED hands each row to one of them, and the
        // flag, set in the same statement, keeps it from being reported again.
        const rows = await all(
          `UPDATE device_grants SET expiry_reported = true
           WHERE id IN (
             SELECT id FROM device_grants
             WHERE expires_at <= $1 AND status = 'pending' AND NOT expiry_reported
             ORDER BY expires_at LIMIT $2
             FOR UPDATE SKIP LOCKED)
           RETURNING *`,
          [now, limit],
        );
        return rows.map(toDeviceGrant).sort((a, b) => a.expiresAt - b.expiresAt);
      },
      async sweep(now, retainSeconds) {
        return changes('DELETE FROM device_grants WHERE expires_at <= $1', [now - retainSeconds * 1000]);
      },
    },

    grants: {
      async create(grant) {
        await pool.query(
          `INSERT INTO grants (id, client_id, user_id, scopes, device_name, device_model, auth_time, created_at,
             expires_at, dpop_jkt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
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
    },

    refreshTokens: {
      async create(token) {
        await insertRefreshToken(pool, token);
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
          await insertRefreshToken(client, successor);
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
    },

    accessTokens: {
      async create(token) {
        await pool.query(
          `INSERT INTO access_tokens (jti, token_hash, grant_id, client_id, subject, scopes, audience, issued_at,
             expires_at, dpop_jkt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
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
    },

    signingKeys: {
      async list() {
        return (await all('SELECT * FROM signing_keys ORDER BY created_at')).map(toSigningKey);
      },
      async replaceAll(keys) {
        // Rotation is one atomic step: other instances see the old set or the new one.
        await transaction(async (client) => {
          await client.query('DELETE FROM signing_keys');
          for (const key of keys) {
            await client.query(
              `INSERT INTO signing_keys (kid, alg, sealed_private_jwk, public_jwk, state, created_at, activated_at,
                 retire_after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
              [key.kid, key.alg, key.sealedPrivateJwk, JSON.stringify(key.publicJwk), key.state, key.createdAt, key.activatedAt, key.retireAfter],
            );
          }
        });
      },
    },

    sessions: {
      async create(session: SessionRecord) {
        await pool.query(
          'INSERT INTO sessions (id_hash, user_id, created_at, expires_at, auth_time) VALUES ($1, $2, $3, $4, $5)',
          [session.idHash, session.userId, session.createdAt, session.expiresAt, session.authTime],
        );
      },
      async get(idHash, now) {
        const row = await one('SELECT * FROM sessions WHERE id_hash = $1 AND expires_at > $2', [idHash, now]);
        return row ? toSession(row) : null;
      },
      async remove(idHash) {
        await pool.query('DELETE FROM sessions WHERE id_hash = $1', [idHash]);
      },
      async sweep(now) {
        return changes('DELETE FROM sessions WHERE expires_at <= $1', [now]);
      },
    },

    auditEvents: {
      async append(event) {
        await pool.query('INSERT INTO audit_events (at, event, fields) VALUES ($1, $2, $3)', [
          event.at,
          event.event,
          JSON.stringify(event.fields),
        ]);
      },
      // Ids come from an identity column: increasing in the order rows were inserted, which across
      // instances may differ slightly from the order they commit in.
      async list({ afterId = 0, since = 0, limit }) {
        return (await all('SELECT * FROM audit_events WHERE id > $1 AND at >= $2 ORDER BY id LIMIT $3', [afterId, since, limit])).map(
          toAuditEvent,
        );
      },
      async tail(limit) {
        return (
          await all('SELECT * FROM (SELECT * FROM audit_events ORDER BY id DESC LIMIT $1) AS newest ORDER BY id', [limit])
        ).map(toAuditEvent);
      },
    },

    // A session-level advisory lock held on one connection while `work` runs on others of the
    // pool, so work of any length and any number of transactions is serialized across instances.
    async exclusive(name, work) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [LOCK_EXCLUSIVE, name]);
        try {
          return await work();
        } finally {
          await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_EXCLUSIVE, name]).catch((error: Error) => {
            broken = error; // a connection that may still hold the lock is closed, which frees it
          });
        }
      } finally {
        client.release(broken);
      }
    },

    replayIdentifiers: {
      // One statement decides: a new key is inserted; an expired one is taken over; a live one
      // returns no row (a replay). A concurrent insert of the same key waits on the primary key
      // and then sees the winner's live row, so exactly one caller gets true.
      async remember(key, expiresAt, now) {
        const row = await one(
          `INSERT INTO replay_identifiers (key, expires_at) VALUES ($1, $2)
           ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE replay_identifiers.expires_at <= $3
           RETURNING 1 AS fresh`,
          [key, expiresAt, now],
        );
        return row !== null;
      },
      async sweep(now) {
        return changes('DELETE FROM replay_identifiers WHERE expires_at <= $1', [now]);
      },
    },

    async ping() {
      try {
        return (await one('SELECT 1 AS ok', []))?.ok === 1;
      } catch {
        return false;
      }
    },
    close() {
      closing ??= pool.end();
      return closing;
    },
  };
}
