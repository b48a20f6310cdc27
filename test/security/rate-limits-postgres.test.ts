// Limits must hold across instances (docs/security.md threat 18): with a databaseUrl,
// `limits.store: auto` keeps every counter in PostgreSQL through rate-limiter-flexible's
// RateLimiterPostgres, so two appliance instances spend one budget, and the user code guess alarm
// counts misses from both. With a local share (config limits.localShare) a flood limit is first
// spent from each instance's memory, within the bound docs/security.md LIMIT-SHARED states.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../server/src/config.ts';
import type { AuditLog } from '../../server/src/services/audit.ts';
import { createConfiguredLimiterFactory, createRateLimits, limitRules } from '../../server/src/services/rate-limits.ts';
import { createUserCodeGuessAlarm } from '../../server/src/services/user-code-alarm.ts';
import { createDatabase, postgresAvailable, startPostgres, type Postgres } from '../support/postgres.ts';
import { startRoundTripProxy } from '../support/postgres-round-trips.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';

describe('rate limits on PostgreSQL', { skip: skipWithoutRealPart('postgresql', postgresAvailable()) }, () => {
  let server: Postgres;
  let databaseUrl: string;
  const closers: (() => Promise<void>)[] = [];
  before(async () => {
    server = await startPostgres();
    databaseUrl = await createDatabase(server.url, 'limits');
  });
  after(async () => {
    for (const close of closers) await close();
    await server?.stop();
  });

  /** One appliance instance's limits, built from the configuration as createAppContext builds them. */
  async function instance(events: { event: string; fields: Record<string, unknown> }[], options: { localShare?: number; url?: string } = {}) {
    const config = loadConfig({
      overrides: {
        databaseUrl: options.url ?? databaseUrl,
        limits: {
          deviceAuthorizationPerClientAndAddress: { points: 5, duration: 60 },
          tokenPerAddress: { points: 20, duration: 60 },
          userCodeGuessAlarm: { threshold: 6, duration: 60 },
        },
      },
    });
    assert.equal(config.limits.store, 'auto');
    const limiters = await createConfiguredLimiterFactory(config);
    closers.push(limiters.close);
    const logger = pino({ level: 'silent' });
    const audit: AuditLog = { record: async (event, fields) => void events.push({ event, fields }) };
    return {
      rateLimits: createRateLimits({ rules: limitRules(config), makeLimiter: limiters.makeLimiter, audit, localShare: options.localShare ?? 0 }),
      alarm: createUserCodeGuessAlarm({ makeLimiter: limiters.makeLimiter, rule: config.limits.userCodeGuessAlarm, audit, logger }),
    };
  }

  test('two instances spend one budget: the limit holds however requests are spread', async () => {
    const events: { event: string; fields: Record<string, unknown> }[] = [];
    const a = await instance(events);
    const b = await instance(events);
    const verdicts = [];
    for (let i = 0; i < 8; i++) verdicts.push((await (i % 2 ? a : b).rateLimits.consume('deviceAuthorizationPerClientAndAddress', 'demo-tv 203.0.113.9')).allowed);
    assert.deepEqual(verdicts, [true, true, true, true, true, false, false, false]);
    assert.equal(events.filter((entry) => entry.event === 'rate_limited').length, 1, 'the refusal is recorded once, by whichever instance tipped it');
    // Another key is untouched.
    assert.equal((await a.rateLimits.consume('deviceAuthorizationPerClientAndAddress', 'demo-tv 203.0.113.10')).allowed, true);
  });

  test('the guess alarm counts misses on every instance and fires once', async () => {
    const events: { event: string; fields: Record<string, unknown> }[] = [];
    const a = await instance(events);
    const b = await instance(events);
    for (let i = 0; i < 6; i++) await (i % 2 ? a : b).alarm.recordFailure();
    assert.equal(await a.alarm.active(), false);
    await b.alarm.recordFailure();
    await a.alarm.recordFailure();
    assert.equal(events.filter((entry) => entry.event === 'user_code_guess_alarm').length, 1);
    assert.equal(await a.alarm.active(), true, 'the instance that did not raise it sees it too');
    assert.equal(await b.alarm.active(), true);
  });

  test('peek reads a shared bucket without spending it', async () => {
    const a = await instance([]);
    const b = await instance([]);
    for (let i = 0; i < 30; i++) await a.rateLimits.consume('clientAuthenticationFailuresPerAddress', '192.0.2.44');
    assert.equal((await b.rateLimits.peek('clientAuthenticationFailuresPerAddress', '192.0.2.44')).allowed, false);
    assert.equal((await b.rateLimits.peek('clientAuthenticationFailuresPerAddress', '192.0.2.45')).allowed, true);
  });

  test('with a local share, one instance alone admits exactly the limit, and asks the database only past its share', async () => {
    const proxy = await startRoundTripProxy(server.port);
    closers.push(() => proxy.close());
    const events: { event: string; fields: Record<string, unknown> }[] = [];
    // 20 points, a share of 0.1: 2 from memory, then the shared counter, told of those 2.
    const a = await instance(events, { localShare: 0.1, url: proxy.urlFor(databaseUrl) });
    await proxy.quiet(50);
    const mark = proxy.mark();
    const first = [];
    for (let i = 0; i < 2; i++) first.push((await a.rateLimits.consume('tokenPerAddress', '198.51.100.7')).allowed);
    assert.deepEqual(first, [true, true]);
    assert.equal((await proxy.since(mark, { quietMs: 50 })).roundTrips, 0, 'the share is spent without the database');
    const verdicts = [...first];
    for (let i = 0; i < 28; i++) verdicts.push((await a.rateLimits.consume('tokenPerAddress', '198.51.100.7')).allowed);
    assert.equal(verdicts.filter(Boolean).length, 20);
    assert.deepEqual(verdicts.slice(20), Array(10).fill(false));
    assert.equal(events.filter((entry) => entry.event === 'rate_limited').length, 1);
    // The guessing limits have no share: their first request already counts in the database.
    const guessMark = proxy.mark();
    await a.rateLimits.consume('userCodeEntryPerAddress', '198.51.100.7');
    assert.equal((await proxy.since(guessMark, { quietMs: 50 })).roundTrips, 1);
  });

  test('with a local share, two instances admit at most points + 2 × (N − 1) × share', async () => {
    const a = await instance([], { localShare: 0.1 });
    const b = await instance([], { localShare: 0.1 });
    const key = '198.51.100.8';
    // Both past their share: each carries what it admitted, so the shared count is exact.
    let admitted = 0;
    for (let i = 0; i < 40; i++) if ((await (i % 2 ? a : b).rateLimits.consume('tokenPerAddress', key)).allowed) admitted++;
    assert.equal(admitted, 20);
    // One instance spends only its share, which the shared counter never hears of: the other
    // still gets the whole limit. 22 is within the bound of 20 + 2 × 1 × 2.
    const other = '198.51.100.9';
    let spread = 0;
    for (let i = 0; i < 2; i++) if ((await b.rateLimits.consume('tokenPerAddress', other)).allowed) spread++;
    for (let i = 0; i < 30; i++) if ((await a.rateLimits.consume('tokenPerAddress', other)).allowed) spread++;
    assert.equal(spread, 22);
    assert.ok(spread <= 20 + 2 * 1 * 2);
  });
});
