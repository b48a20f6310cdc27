// The shared store contract against the PostgreSQL store on a real server (Debian's package,
// started by the test), each test in a database of its own; then what only PostgreSQL has:
// migrations that several instances run at once, and a pool shared by concurrent callers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createPostgresStore, migratePostgres } from '../../server/src/store/postgres/postgres-store.ts';
import { postgresMigrations } from '../../server/src/store/postgres/migrations.ts';
import { createDatabase, postgresAvailable, startPostgres, type Postgres } from '../support/postgres.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { describeStoreContract } from './store-contract.ts';

describe('postgres store', { skip: skipWithoutRealPart('postgresql', postgresAvailable()) }, () => {
  let server: Postgres;
  let databases = 0;
  /** A fresh, empty database on the shared server. */
  const freshDatabase = () => createDatabase(server.url, `store_${++databases}`);

  before(async () => {
    server = await startPostgres();
  });
  after(() => server?.stop());

  describeStoreContract('postgres', async () => {
    const store = await createPostgresStore({ connectionString: await freshDatabase() });
    return { store, cleanup: () => store.close() };
  });

  describe('migrations', () => {
    test('five instances starting at once on an empty database apply each migration exactly once', async () => {
      const url = await freshDatabase();
      const pools = Array.from({ length: 5 }, () => new pg.Pool({ connectionString: url, max: 2 }));
      try {
        const applied = await Promise.all(pools.map((pool) => migratePostgres(pool)));
        const all = applied.flat().sort((a, b) => a - b);
        assert.deepEqual(all, postgresMigrations.map((_, index) => index + 1));
        const recorded = await pools[0]!.query('SELECT version FROM schema_migrations ORDER BY version');
        assert.deepEqual(recorded.rows.map((row) => row.version), all);
      } finally {
        await Promise.all(pools.map((pool) => pool.end()));
      }
    });

    test('opening a migrated database again applies nothing and keeps the data', async () => {
      const url = await freshDatabase();
      const first = await createPostgresStore({ connectionString: url });
      await first.sessions.create({ idHash: 'kept', userId: 'u', createdAt: 1, expiresAt: Date.UTC(2100, 0, 1), authTime: 1, amr: [], acr: null });
      await first.close();
      const second = await createPostgresStore({ connectionString: url });
      try {
        const pool = new pg.Pool({ connectionString: url, max: 1 });
        try {
          assert.deepEqual(await migratePostgres(pool), []);
        } finally {
          await pool.end();
        }
        assert.equal((await second.sessions.get('kept', 2))?.userId, 'u');
      } finally {
        await second.close();
      }
    });
  });

  describe('the pool', () => {
    test('ping answers false, not an exception, once the pool is closed', async () => {
      const store = await createPostgresStore({ connectionString: await freshDatabase(), pool: { max: 1 } });
      assert.equal(await store.ping(), true);
      await store.close();
      // Readiness reports a store that cannot query as not ready rather than crashing the probe.
      assert.equal(await store.ping(), false);
      // close() is idempotent (the appliance and a test may both close it).
      await store.close();
    });

    test('instants come back as numbers, exactly, beyond 2^32', async () => {
      const store = await createPostgresStore({ connectionString: await freshDatabase() });
      try {
        const instant = 8_640_000_000_000; // the largest Date, far beyond 2^32
        await store.sessions.create({ idHash: 'far', userId: 'u', createdAt: instant - 1, expiresAt: instant, authTime: 4_294_967_297, amr: [], acr: null });
        const found = await store.sessions.get('far', 0);
        assert.deepEqual(found, { idHash: 'far', userId: 'u', createdAt: instant - 1, expiresAt: instant, authTime: 4_294_967_297, amr: [], acr: null });
      } finally {
        await store.close();
      }
    });

    test('a store on a pool of two connections serves 100 concurrent calls', async () => {
      const store = await createPostgresStore({ connectionString: await freshDatabase(), pool: { max: 2 } });
      try {
        const results = await Promise.all(Array.from({ length: 100 }, () => store.ping()));
        assert.ok(results.every(Boolean));
      } finally {
        await store.close();
      }
    });
  });
});
