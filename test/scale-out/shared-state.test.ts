// What several instances share through PostgreSQL besides the store's own records: the jti replay
// cache (Store.replayIdentifiers), the cross-instance lock the first-start bootstrap runs under
// (Store.exclusive), and the rate-limit counters (rate-limiter-flexible's RateLimiterPostgres).
// Each store or limiter below stands for one instance: its own pool on the same database.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import { createInProcessBus } from '../../server/src/bus/in-process.ts';
import { createExpiryScheduler } from '../../server/src/device-grants/expiry.ts';
import { createSweeper } from '../../server/src/services/sweeper.ts';
import { createManualClock, loadConfig } from '@devicegate/server';
import { createStoreReplayCache } from '../../server/src/dpop/store-replay-cache.ts';
import { createConfiguredLimiterFactory, createPostgresLimiterFactory, createRateLimits } from '../../server/src/services/rate-limits.ts';
import { createPostgresStore } from '../../server/src/store/postgres/postgres-store.ts';
import type { Store } from '../../server/src/store/types.ts';
import { createDatabase, postgresAvailable, startPostgres, type Postgres } from '../support/postgres.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';

describe('state shared by instances on one PostgreSQL', { skip: skipWithoutRealPart('postgresql', postgresAvailable()) }, () => {
  let server: Postgres;
  let url: string;
  let first: Store;
  let second: Store;

  before(async () => {
    server = await startPostgres();
    url = await createDatabase(server.url, 'shared_state');
    [first, second] = [await createPostgresStore({ connectionString: url }), await createPostgresStore({ connectionString: url })];
  });
  after(async () => {
    await first?.close();
    await second?.close();
    await server?.stop();
  });

  describe('replay identifiers', () => {
    const now = 1_700_000_000_000;

    test('a key is fresh once, on whichever instance, and a replay on every other', async () => {
      assert.equal(await first.replayIdentifiers!.remember('key-1', now + 60_000, now), true);
      assert.equal(await second.replayIdentifiers!.remember('key-1', now + 60_000, now), false);
      assert.equal(await first.replayIdentifiers!.remember('key-1', now + 60_000, now), false);
    });

    test('an expired key may be used again, once', async () => {
      await first.replayIdentifiers!.remember('key-2', now + 60_000, now);
      const later = now + 60_001;
      assert.equal(await second.replayIdentifiers!.remember('key-2', later + 60_000, later), true);
      assert.equal(await first.replayIdentifiers!.remember('key-2', later + 60_000, later), false);
    });

    test('twenty callers on two instances remember one key at once: exactly one is told it is fresh', async () => {
      const stores = [first, second];
      const verdicts = await Promise.all(
        Array.from({ length: 20 }, (_, index) => stores[index % 2]!.replayIdentifiers!.remember('key-race', now + 60_000, now)),
      );
      assert.equal(verdicts.filter(Boolean).length, 1);
    });

    test('sweep deletes expired keys only', async () => {
      await first.replayIdentifiers!.remember('sweep-old', now + 1000, now);
      await first.replayIdentifiers!.remember('sweep-live', now + 120_000, now);
      assert.ok((await second.replayIdentifiers!.sweep(now + 60_000)) >= 1);
      assert.equal(await first.replayIdentifiers!.remember('sweep-live', now + 180_000, now + 60_000), false);
      assert.equal(await first.replayIdentifiers!.remember('sweep-old', now + 180_000, now + 60_000), true);
    });

    test("the appliance's sweeper deletes expired keys", async () => {
      const clock = createManualClock(now);
      await first.replayIdentifiers!.remember('swept-by-sweeper', now + 1000, now);
      clock.advance(2000);
      const logger = pino({ level: 'silent' });
      const expiry = createExpiryScheduler({ store: first, bus: createInProcessBus(), clock, logger });
      const sweeper = createSweeper({ store: first, expiry, clock, logger, retentionSeconds: 3600 });
      await sweeper.runOnce();
      const raw = new pg.Client({ connectionString: url });
      await raw.connect();
      try {
        const { rows } = await raw.query('SELECT count(*)::int AS n FROM replay_identifiers WHERE expires_at <= $1', [clock.now()]);
        assert.equal(rows[0].n, 0);
      } finally {
        await raw.end();
      }
    });

    test('the replay cache stores a fixed-length digest, so a very long jti is handled like any other', async () => {
      const clock = createManualClock(now);
      const [onFirst, onSecond] = [first, second].map((store) => createStoreReplayCache({ identifiers: store.replayIdentifiers!, now: () => clock.now() }));
      const longKey = `dpop:thumbprint:${'j'.repeat(20_000)}`;
      assert.equal(await onFirst!.remember(longKey, now + 60_000), true);
      assert.equal(await onSecond!.remember(longKey, now + 60_000), false);
      const raw = new pg.Client({ connectionString: url });
      await raw.connect();
      try {
        const { rows } = await raw.query('SELECT max(length(key))::int AS longest FROM replay_identifiers');
        assert.equal(rows[0].longest, 43, 'base64url SHA-256');
      } finally {
        await raw.end();
      }
    });
  });

  describe('user codes', () => {
    const now = 1_700_000_000_000;
    let sequence = 0;
    const grant = (userCode: string, createdAt: number) => {
      const id = `shared-dg-${++sequence}`;
      return {
        id,
        deviceCodeHash: `hash-${id}`,
        userCode,
        clientId: 'tv',
        scopes: ['openid'],
        deviceName: null,
        deviceModel: null,
        requestedFrom: null,
        pushKey: `push-${id}`,
        createdAt,
        expiresAt: createdAt + 600_000,
        interval: 5,
        resources: [],
      };
    };
    const race = (userCode: string, createdAt: number) =>
      Promise.allSettled(Array.from({ length: 20 }, (_, index) => [first, second][index % 2]!.deviceGrants.create(grant(userCode, createdAt))));

    test('twenty creates of one code on two instances at once: exactly one holds it, the others are told it is taken', async () => {
      const results = await race('SHRDCDE1', now);
      assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
      for (const result of results) if (result.status === 'rejected') assert.equal((result.reason as Error).name, 'UserCodeTakenError');
    });

    test('and once its holder has expired, again exactly one of twenty takes the code over', async () => {
      const results = await race('SHRDCDE1', now + 600_000);
      assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
      assert.ok(await second.deviceGrants.findLiveByUserCode('SHRDCDE1', now + 600_000));
    });
  });

  describe('exclusive work', () => {
    test('work under one name never overlaps across instances; the lock is released after a failure', async () => {
      let inside = 0;
      let most = 0;
      const work = async () => {
        inside++;
        most = Math.max(most, inside);
        await new Promise((resolve) => setTimeout(resolve, 20));
        inside--;
      };
      await assert.rejects(first.exclusive!('job', async () => Promise.reject(new Error('failed inside'))), /failed inside/);
      await Promise.all(Array.from({ length: 6 }, (_, index) => [first, second][index % 2]!.exclusive!('job', work)));
      assert.equal(most, 1);
    });

    test('work under different names runs side by side', async () => {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let started!: () => void;
      const holding = new Promise<void>((resolve) => (started = resolve));
      const held = first.exclusive!('one-name', async () => {
        started();
        await released;
      });
      try {
        await holding; // the first instance holds its lock now
        // Would wait for ever (and the test time out) if 'another-name' shared the lock.
        assert.equal(await second.exclusive!('another-name', async () => 'ran'), 'ran');
      } finally {
        release();
        await held;
      }
    });
  });

  describe('rate limits', () => {
    test('instances starting at once on an empty database all create their counters (one table, no failed start)', async () => {
      // Unserialized, concurrent CREATE TABLE IF NOT EXISTS fails some callers (23505, 42710): a
      // few rounds of six make that all but certain.
      for (let round = 0; round < 5; round++) {
        const fresh = await createDatabase(server.url, `limits_race_${round}`);
        const pools = Array.from({ length: 6 }, () => new pg.Pool({ connectionString: fresh, max: 1 }));
        try {
          const started = await Promise.allSettled(pools.map((pool) => createPostgresLimiterFactory(pool)));
          assert.deepEqual(started.filter((result) => result.status === 'rejected'), []);
        } finally {
          await Promise.all(pools.map((pool) => pool.end()));
        }
      }
    });

    test('counters in PostgreSQL are shared by every instance; memory counters are not', async () => {
      const rules = { signInPerAccount: { points: 2, duration: 60 } };
      const make = async (store: 'auto' | 'memory') => {
        const config = loadConfig({ overrides: { databaseUrl: url, limits: { store } } });
        const limiters = await createConfiguredLimiterFactory(config);
        return createRateLimits({ rules, makeLimiter: limiters.makeLimiter, close: limiters.close });
      };
      const [sharedA, sharedB, localA, localB] = [await make('auto'), await make('auto'), await make('memory'), await make('memory')];
      try {
        assert.equal((await sharedA.consume('signInPerAccount', 'alice')).allowed, true);
        assert.equal((await sharedB.consume('signInPerAccount', 'alice')).allowed, true);
        assert.equal((await sharedA.consume('signInPerAccount', 'alice')).allowed, false, 'the third attempt, across two instances');
        assert.equal((await sharedB.peek('signInPerAccount', 'alice')).allowed, false);
        await sharedB.reset('signInPerAccount', 'alice');
        assert.equal((await sharedA.peek('signInPerAccount', 'alice')).allowed, true, 'a reset on one instance frees it on all');

        await localA.consume('signInPerAccount', 'bob');
        await localB.consume('signInPerAccount', 'bob');
        assert.equal((await localA.consume('signInPerAccount', 'bob')).allowed, true, 'in memory, each instance counts alone');
      } finally {
        for (const limits of [sharedA, sharedB, localA, localB]) await limits.close?.();
      }
    });
  });
});
