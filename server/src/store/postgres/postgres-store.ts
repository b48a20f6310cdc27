import pg from 'pg';
import type { Store } from '../types.ts';
import { createPostgresAccessTokens } from './access-tokens.ts';
import { createPostgresAuditEvents } from './audit-events.ts';
import { createChangeListener, type ChangeListener } from './change-listener.ts';
import { CLIENTS_CHANNEL, createPostgresClients } from './clients.ts';
import { createDatabase, inTransaction, LOCK_EXCLUSIVE, LOCK_MIGRATIONS, types } from './database.ts';
import { createPostgresDeviceGrants } from './device-grants.ts';
import { createPostgresGrants } from './grants.ts';
import { postgresMigrations } from './migrations.ts';
import { createPostgresRefreshTokens } from './refresh-tokens.ts';
import { createPostgresRegisteredDevices } from './registered-devices.ts';
import { createPostgresReplayIdentifiers } from './replay-identifiers.ts';
import { createPostgresResources } from './resources.ts';
import { createPostgresSessions } from './sessions.ts';
import { createPostgresSigningKeys } from './signing-keys.ts';
import { createPostgresTokenExchanges } from './token-exchanges.ts';
import { createPostgresPasskeys } from './passkeys.ts';
import { createPostgresUsers } from './users.ts';
import { createPostgresWebhooks } from './webhooks.ts';

/**
 * Applies pending migrations, each in its own transaction under a transaction-scoped advisory
 * lock: when several instances start at once against a fresh database, one applies a migration
 * while the others wait on the lock, then find it recorded and skip it. Returns the versions this
 * call applied (exported for tests).
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
  /**
   * Keep clients in memory, told of changes by a listening connection (./clients.ts); on by
   * default. Off for a one-shot process (the CLI), which reads each client once and should not
   * hold a second connection.
   */
  cacheClients?: boolean;
}

/**
 * PostgreSQL store, one repository a file beside this one: many appliance instances share one
 * database, so every single-use and rotation guarantee is made by the database (conditional
 * UPDATEs, row locks, advisory locks in transactions), never by process memory. Transactions run
 * at READ COMMITTED: a conditional UPDATE that waited on a concurrent one re-checks its WHERE
 * against the committed row, so of many callers exactly one matches.
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

  const database = createDatabase(pool);
  const auditEvents = createPostgresAuditEvents(database);
  const deviceGrants = createPostgresDeviceGrants(database);
  let listener: ChangeListener | undefined;
  const clients = createPostgresClients(database, { listening: () => listener?.listening() ?? false });
  if (options.cacheClients !== false) {
    listener = await createChangeListener({
      connectionString: options.connectionString,
      channel: CLIENTS_CHANNEL,
      onChange: clients.changed,
      onReset: clients.reset,
    });
  }
  let closing: Promise<void> | undefined;

  return {
    clients: clients.repository,
    resources: createPostgresResources(database),
    users: createPostgresUsers(database),
    passkeys: createPostgresPasskeys(database),
    deviceGrants: deviceGrants.repository,
    grants: createPostgresGrants(database),
    refreshTokens: createPostgresRefreshTokens(database),
    accessTokens: createPostgresAccessTokens(database),
    tokenExchanges: createPostgresTokenExchanges(database),
    signingKeys: createPostgresSigningKeys(database),
    sessions: createPostgresSessions(database),
    auditEvents: auditEvents.repository,
    webhooks: createPostgresWebhooks(database),
    replayIdentifiers: createPostgresReplayIdentifiers(database),
    registeredDevices: createPostgresRegisteredDevices(database),

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

    async ping() {
      try {
        return (await database.one('SELECT 1 AS ok', []))?.ok === 1;
      } catch {
        return false;
      }
    },
    close() {
      // Queued polls and audit events are written before the pool ends.
      closing ??= Promise.all([deviceGrants.flush(), auditEvents.flush(), listener?.close()]).then(() => pool.end());
      return closing;
    },
  };
}
