// No sign-in lost to a crash inside the token endpoint (docs/security.md REDEEM-ATOMIC,
// REDEEM-RETRY, REFRESH-RETRY). The real appliance (`devicegate serve`, a child process) holds 40
// redemptions, then 40 refreshes, in flight at once and is killed with SIGKILL at several moments
// (after the first answer, after a dozen, and ten milliseconds in); restarted on the
// same state, every device retries what it never got an answer to. On SQLite here, on PostgreSQL in
// lost-answers-crash-postgres.test.ts:
//   - every approved code is redeemable by its device, or redeemed with tokens its retry obtains;
//   - no token family without a live refresh token;
//   - no family revoked by a device's own retry within the window: every device refreshes after.
// The kill moments only choose where the kill lands; what is checked must hold at every moment.
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Store } from '@devicegate/server';
import { createSqliteStore } from '../../server/src/store/sqlite/sqlite-store.ts';
import { crashSuite } from './support/lost-answers.ts';

crashSuite('sqlite', async (dataDir) => {
  let db: Database.Database | undefined;
  let store: Store | undefined;
  return {
    args: [],
    // Opened once the appliance has created the database.
    get store() {
      store ??= createSqliteStore({ filename: path.join(dataDir, 'devicegate.sqlite'), backgroundCheckpoints: false });
      return store;
    },
    async rows(sql) {
      db ??= new Database(path.join(dataDir, 'devicegate.sqlite'), { readonly: true, fileMustExist: true });
      return db.prepare(sql).all() as Record<string, unknown>[];
    },
    async close() {
      db?.close();
      await store?.close();
    },
  };
});

