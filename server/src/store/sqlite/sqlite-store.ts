import Database from 'better-sqlite3';
import { DevicegateError } from '../../errors.ts';
import type { Store } from '../types.ts';
import { createSqliteAccessTokens } from './access-tokens.ts';
import { createSqliteAuditEvents } from './audit-events.ts';
import { createSqliteClients } from './clients.ts';
import { type Row } from './columns.ts';
import { createSqliteDeviceGrants } from './device-grants.ts';
import { createSqliteGrants } from './grants.ts';
import { sqliteMigrations } from './migrations.ts';
import { createSqliteRefreshTokens } from './refresh-tokens.ts';
import { createSqliteRegisteredDevices } from './registered-devices.ts';
import { createSqliteReplayIdentifiers } from './replay-identifiers.ts';
import { createSqliteResources } from './resources.ts';
import { createSqliteSessions } from './sessions.ts';
import { createSqliteSigningKeys } from './signing-keys.ts';
import { createSqliteTokenExchanges } from './token-exchanges.ts';
import { createSqlitePasskeys } from './passkeys.ts';
import { createSqliteUsers } from './users.ts';
import { createSqliteWebhooks } from './webhooks.ts';
import { startWalCheckpointer, type WalCheckpointer } from './wal-checkpointer.ts';

/** Applies pending migrations; createSqliteStore runs it on every open. */
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
 * SQLite store (better-sqlite3, WAL), one repository a file beside this one. better-sqlite3 is
 * synchronous, so every conditional update runs to completion before another request's code can
 * interleave; across processes (the CLI beside a running server) SQLite's own locking serializes
 * writers. Transactions that read before they write are run with .immediate(): they take the
 * write lock first, so a writer in another process cannot make them fail half-way with
 * SQLITE_BUSY_SNAPSHOT; busy_timeout makes them wait instead.
 */
export function createSqliteStore(options: {
  filename: string;
  /** WAL checkpoints on a worker thread once the log grows (default); false: SQLite's own. */
  backgroundCheckpoints?: boolean;
}): Store {
  const db = openDatabase(options.filename);
  // Checkpoints run on a worker thread (wal-checkpointer.ts); the commit-time checkpoint stays
  // only as a safety net, at 10 times SQLite's default log size. Its failures lose nothing (the
  // log keeps every commit) and the safety net takes over, so they are not reported further.
  let checkpointer: WalCheckpointer | undefined;
  if (options.backgroundCheckpoints !== false) {
    db.pragma('wal_autocheckpoint = 10000');
    checkpointer = startWalCheckpointer({ filename: options.filename });
  }

  const deviceGrants = createSqliteDeviceGrants(db);
  const auditEvents = createSqliteAuditEvents(db);
  const tokenExchanges = createSqliteTokenExchanges(db);

  return {
    clients: createSqliteClients(db),
    resources: createSqliteResources(db),
    users: createSqliteUsers(db),
    passkeys: createSqlitePasskeys(db),
    deviceGrants: deviceGrants.repository,
    grants: createSqliteGrants(db),
    refreshTokens: createSqliteRefreshTokens(db),
    accessTokens: createSqliteAccessTokens(db),
    tokenExchanges: tokenExchanges.repository,
    signingKeys: createSqliteSigningKeys(db),
    sessions: createSqliteSessions(db),
    auditEvents: auditEvents.repository,
    replayIdentifiers: createSqliteReplayIdentifiers(db),
    registeredDevices: createSqliteRegisteredDevices(db),
    webhooks: createSqliteWebhooks(db),
    async ping() {
      return (db.prepare('SELECT 1 AS ok').get() as Row).ok === 1;
    },
    async close() {
      // What the group commits still hold is written before the database closes.
      await deviceGrants.flush();
      await tokenExchanges.flush();
      await auditEvents.flush();
      await checkpointer?.stop();
      db.close();
    },
  };
}

/**
 * Opens and migrates the database file. SQLite's own errors name neither the file nor a way out
 * ("file is not a database"), so the ones an operator meets are turned into one line that does.
 */
function openDatabase(filename: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(filename);
    db.pragma('journal_mode = WAL');
    // NORMAL is durable across application crashes in WAL mode; only an OS crash may lose the
    // last transactions, never corrupt the database.
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    migrateSqlite(db);
    return db;
  } catch (error) {
    db?.close();
    throw explainOpenFailure(filename, error);
  }
}

const MOVE_HINT = 'point dataDir (--data-dir, DEVICEGATE_DATA_DIR) at the data directory of this appliance, or move the file away to start afresh (new keys, no clients or users)';

function explainOpenFailure(filename: string, error: unknown): unknown {
  const code = (error as { code?: unknown }).code;
  const said = (error as Error).message;
  switch (code) {
    case 'SQLITE_NOTADB':
      return new DevicegateError('store_unreadable', `${filename} is not a SQLite database (${said}): ${MOVE_HINT}`, { cause: error });
    case 'SQLITE_CORRUPT':
      return new DevicegateError('store_unreadable', `${filename} is damaged (${said}): restore it from a backup, or ${MOVE_HINT}`, { cause: error });
    case 'SQLITE_CANTOPEN':
      return new DevicegateError('store_unreadable', `cannot open ${filename} (${said}): check that it is a file this user may read and write, in a directory it may write`, { cause: error });
    case 'SQLITE_READONLY':
      return new DevicegateError('store_unreadable', `${filename} is read-only (${said}): give this user write access to it and to its directory`, { cause: error });
    default:
      return error;
  }
}
