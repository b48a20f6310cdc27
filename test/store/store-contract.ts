// The store contract: every backend (SQLite, PostgreSQL) passes the same tests, so the appliance
// can rely on the interface in server/src/store/types.ts alone. Each test gets a fresh, empty
// store. Instants are fixed epoch milliseconds (no clock, no sleeping); concurrency tests fire all
// calls at once and count winners, which holds whatever order they happen to run in.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type {
  AccessTokenRecord,
  ClientRecord,
  Decision,
  DeviceCodeRedemption,
  DeviceGrantRecord,
  GrantRecord,
  NewDeviceGrant,
  PasskeyRecord,
  PollVerdict,
  RefreshExchange,
  RefreshTokenRecord,
  SessionRecord,
  SigningKeyRecord,
  Store,
  UserRecord,
  WebhookEndpointRecord,
} from '@devicegate/server';
import { judgePoll, POLL_TOLERANCE_MS, SLOW_DOWN_STEP_SECONDS, type PollPacing } from '../../server/src/device-grants/pacing.ts';

export interface StoreUnderTest {
  store: Store;
  /** Closes the store and removes what it made. */
  cleanup(): Promise<void>;
}

/** 2025-06-01T00:00:00Z: well past 2^31 in milliseconds, so BIGINT round trips are exercised. */
const T0 = Date.UTC(2025, 5, 1);
const SECOND = 1000;

let sequence = 0;
const unique = (prefix: string) => `${prefix}-${++sequence}`;

function newDeviceGrant(overrides: Partial<NewDeviceGrant> = {}): NewDeviceGrant {
  const id = unique('dg');
  return {
    id,
    deviceCodeHash: `hash-${id}`,
    userCode: unique('UC').replace('-', '').padEnd(8, 'X').slice(0, 8),
    clientId: 'tv',
    scopes: ['openid', 'offline_access'],
    deviceName: 'Living room TV',
    deviceModel: 'TV-9000',
    requestedFrom: '192.0.2.7',
    pushKey: `push-${id}`,
    createdAt: T0,
    expiresAt: T0 + 600 * SECOND,
    interval: 5,
    resources: [],
    ...overrides,
  };
}

function newClient(overrides: Partial<ClientRecord> = {}): ClientRecord {
  return {
    clientId: unique('client'),
    name: 'A TV',
    secretHash: null,
    grantTypes: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
    scopes: ['openid', 'profile', 'offline_access'],
    deviceCodeLifetime: 600,
    pollInterval: 5,
    accessTokenFormat: 'jwt',
    mayIntrospect: false,
    audience: null,
    disabled: false,
    dpopRequired: false,
    jwks: null,
    jwksUri: null,
    phishing: { allowedNetworks: [], sameNetworkRequired: false, registeredDevicesOnly: false, userCodeDenyPrefixes: [], deviceNameFilter: 'neutralise' },
    logoUri: null,
    registration: 'operator',
    allowedOrigins: [],
    approvesDevicesOf: [],
    createdAt: T0,
    ...overrides,
  };
}

function newUser(overrides: Partial<UserRecord> = {}): UserRecord {
  const id = unique('user');
  return {
    id,
    username: `name-${id}`,
    passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
    name: 'Ada',
    email: 'ada@example.com',
    emailVerified: true,
    disabled: false,
    createdAt: T0,
    ...overrides,
  };
}

function newGrant(overrides: Partial<Omit<GrantRecord, 'lastUsedAt' | 'revokedAt' | 'revokedReason'>> = {}) {
  return {
    id: unique('grant'),
    clientId: 'tv',
    userId: 'user-1',
    scopes: ['openid', 'offline_access'],
    deviceName: 'Living room TV',
    deviceModel: null,
    authTime: T0,
    amr: ['fed', 'mfa'] as string[] | null,
    acr: 'urn:example:loa:2' as string | null,
    createdAt: T0,
    expiresAt: T0 + 30 * 86_400 * SECOND,
    dpopJkt: null,
    resources: [],
    ...overrides,
  };
}

function newRefreshToken(grantId: string, overrides: Partial<RefreshTokenRecord> = {}): Omit<RefreshTokenRecord, 'rotatedAt' | 'revokedAt'> {
  return {
    tokenHash: unique('rt'),
    grantId,
    clientId: 'tv',
    scopes: ['openid', 'offline_access'],
    createdAt: T0,
    expiresAt: T0 + 86_400 * SECOND,
    ...overrides,
  };
}

function newAccessToken(overrides: Partial<AccessTokenRecord> = {}): Omit<AccessTokenRecord, 'revokedAt'> {
  return {
    jti: unique('jti'),
    tokenHash: null,
    grantId: null,
    clientId: 'tv',
    subject: 'user-1',
    scopes: ['openid'],
    audience: 'https://api.example.com',
    issuedAt: T0,
    expiresAt: T0 + 600 * SECOND,
    dpopJkt: null,
    act: null,
    ...overrides,
  };
}

function newSigningKey(overrides: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  const kid = unique('kid');
  return {
    kid,
    alg: 'ES256',
    sealedPrivateJwk: `sealed:${kid}`,
    publicJwk: { kty: 'EC', crv: 'P-256', x: 'x-coordinate', y: 'y-coordinate', kid, use: 'sig' },
    state: 'current',
    createdAt: T0,
    activatedAt: T0,
    retireAfter: null,
    ...overrides,
  };
}

/** The grant a poll verdict carries; fails the test for `unknown`. */
const grantOf = (verdict: PollVerdict): DeviceGrantRecord =>
  verdict.kind === 'unknown' ? assert.fail('the poll found no grant') : verdict.grant;

const count = <T>(values: T[], predicate: (value: T) => boolean) => values.filter(predicate).length;

/**
 * Poll sequences for the pacing rule (server/src/device-grants/pacing.ts): each poll's time after
 * the first (which is at the authorization itself) and the verdict it must get. Both stores must
 * give what judgePoll gives, and judgePoll what the table says.
 */
const PACING: Array<{
  title: string;
  /** Decided before the polls (a device told of its outcome by push). */
  decided?: 'approved' | 'denied';
  polls: Array<[at: number, verdict: 'ok' | 'slow_down']>;
}> = [
  { title: 'the first poll, at the authorization itself', polls: [[0, 'ok']] },
  { title: 'in time: one interval after the last', polls: [[0, 'ok'], [5 * SECOND, 'ok'], [10 * SECOND, 'ok']] },
  { title: 'too soon', polls: [[0, 'ok'], [2 * SECOND, 'slow_down']] },
  { title: 'within the tolerance', polls: [[0, 'ok'], [5 * SECOND - POLL_TOLERANCE_MS, 'ok']] },
  { title: 'just past the tolerance', polls: [[0, 'ok'], [5 * SECOND - POLL_TOLERANCE_MS - 1, 'slow_down']] },
  {
    title: 'after slow_down the grown interval counts, tolerance included',
    polls: [
      [0, 'ok'],
      [2 * SECOND, 'slow_down'], // interval 10 s
      [7 * SECOND, 'slow_down'], // in time for 5 s, not for 10 s: interval 15 s
      [22 * SECOND - POLL_TOLERANCE_MS, 'ok'],
      [32 * SECOND, 'slow_down'], // 10 s after the last: interval 20 s
    ],
  },
  { title: 'an approved grant is not throttled', decided: 'approved', polls: [[0, 'ok'], [100, 'ok'], [200, 'ok']] },
  { title: 'a denied grant is not throttled', decided: 'denied', polls: [[0, 'ok'], [100, 'ok']] },
];

export function describeStoreContract(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  /** A test with a fresh store of its own, closed and removed afterwards. */
  const it = (title: string, body: (store: Store) => Promise<void>) =>
    test(title, async () => {
      const { store, cleanup } = await makeStore();
      try {
        await body(store);
      } finally {
        await cleanup();
      }
    });

  /** Creates a pending grant and approves it. */
  async function approved(store: Store, overrides: Partial<NewDeviceGrant> = {}) {
    const grant = newDeviceGrant(overrides);
    await store.deviceGrants.create(grant);
    assert.equal(
      await store.deviceGrants.decide(grant.id, { status: 'approved', userId: 'user-1', grantedScopes: ['openid'], authTime: T0, amr: ['pwd'], acr: null }, T0 + SECOND),
      true,
    );
    return grant;
  }

  describe(`${name} store contract`, () => {
    describe('device grants', () => {
      it('create stores a pending grant that reads back field for field', async (store) => {
        const grant = newDeviceGrant({ resources: ['https://tools.example.com/mcp', 'https://calendar.example.com'] });
        await store.deviceGrants.create(grant);
        const expected = {
          ...grant,
          status: 'pending',
          lastPolledAt: null,
          userId: null,
          grantedScopes: null,
          authTime: null,
          amr: null,
          acr: null,
          decidedAt: null,
          grantId: null,
          dpopJkt: null,
          traceParent: null,
        };
        assert.deepEqual(await store.deviceGrants.findById(grant.id), expected);
        assert.deepEqual(await store.deviceGrants.findByDeviceCodeHash(grant.deviceCodeHash), expected);
        assert.deepEqual(await store.deviceGrants.findLiveByUserCode(grant.userCode, T0), expected);
      });

      it('the traceparent of a traced device authorization reads back', async (store) => {
        const traceParent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
        const grant = newDeviceGrant({ traceParent });
        await store.deviceGrants.create(grant);
        assert.equal((await store.deviceGrants.findById(grant.id))?.traceParent, traceParent);
      });

      it('unknown ids, device codes and user codes are not found', async (store) => {
        assert.equal(await store.deviceGrants.findById('nope'), null);
        assert.equal(await store.deviceGrants.findByDeviceCodeHash('nope'), null);
        assert.equal(await store.deviceGrants.findLiveByUserCode('NOPENOPE', T0), null);
      });

      it('a grant with empty scopes and no device details round-trips', async (store) => {
        const grant = newDeviceGrant({ scopes: [], deviceName: null, deviceModel: null, requestedFrom: null });
        await store.deviceGrants.create(grant);
        const found = await store.deviceGrants.findById(grant.id);
        assert.deepEqual(found?.scopes, []);
        assert.equal(found?.deviceName, null);
        assert.equal(found?.requestedFrom, null);
      });

      it('findLiveByUserCode does not find a grant once it has expired', async (store) => {
        const grant = newDeviceGrant();
        await store.deviceGrants.create(grant);
        assert.ok(await store.deviceGrants.findLiveByUserCode(grant.userCode, grant.expiresAt - 1));
        assert.equal(await store.deviceGrants.findLiveByUserCode(grant.userCode, grant.expiresAt), null);
      });

      it('a user code live on another grant is refused with UserCodeTakenError', async (store) => {
        const first = newDeviceGrant({ userCode: 'BCDFGHJK' });
        await store.deviceGrants.create(first);
        await assert.rejects(
          store.deviceGrants.create(newDeviceGrant({ userCode: 'BCDFGHJK', createdAt: T0 + SECOND, expiresAt: T0 + 601 * SECOND })),
          { name: 'UserCodeTakenError' },
        );
        assert.equal((await store.deviceGrants.findLiveByUserCode('BCDFGHJK', T0 + SECOND))?.id, first.id);
      });

      it('a user code may be reused once the grant that held it has expired', async (store) => {
        const first = newDeviceGrant({ userCode: 'BCDFGHJK' });
        await store.deviceGrants.create(first);
        const second = newDeviceGrant({ userCode: 'BCDFGHJK', createdAt: first.expiresAt, expiresAt: first.expiresAt + 600 * SECOND });
        await store.deviceGrants.create(second);
        assert.equal((await store.deviceGrants.findLiveByUserCode('BCDFGHJK', first.expiresAt))?.id, second.id);
        // The expired holder is still there (a late poll answers expired_token).
        assert.equal((await store.deviceGrants.findById(first.id))?.userCode, 'BCDFGHJK');
      });

      it('of 20 concurrent creates with one user code exactly one succeeds, in each of 5 rounds', async (store) => {
        // Several rounds, so that a backend with a connection pool runs later rounds on warm
        // connections, all at once: a check-then-insert without serialization fails here.
        for (let round = 0; round < 5; round++) {
          const userCode = `MNPQRST${round}`;
          const results = await Promise.allSettled(
            Array.from({ length: 20 }, () => store.deviceGrants.create(newDeviceGrant({ userCode }))),
          );
          assert.equal(count(results, (result) => result.status === 'fulfilled'), 1, `round ${round}`);
          for (const result of results) {
            if (result.status === 'rejected') assert.equal((result.reason as Error).name, 'UserCodeTakenError');
          }
        }
      });

      it('of 20 concurrent creates reusing the code of an expired grant exactly one succeeds, in each of 5 rounds', async (store) => {
        for (let round = 0; round < 5; round++) {
          const userCode = `VWXZBCD${round}`;
          const expired = newDeviceGrant({ userCode });
          await store.deviceGrants.create(expired);
          const later = { createdAt: expired.expiresAt, expiresAt: expired.expiresAt + 600 * SECOND };
          const results = await Promise.allSettled(
            Array.from({ length: 20 }, () => store.deviceGrants.create(newDeviceGrant({ userCode, ...later }))),
          );
          assert.equal(count(results, (result) => result.status === 'fulfilled'), 1, `round ${round}`);
          for (const result of results) {
            if (result.status === 'rejected') assert.equal((result.reason as Error).name, 'UserCodeTakenError');
          }
          // Then a third holder, once the second has expired too.
          const third = newDeviceGrant({ userCode, createdAt: later.expiresAt, expiresAt: later.expiresAt + 600 * SECOND });
          await store.deviceGrants.create(third);
          assert.equal((await store.deviceGrants.findLiveByUserCode(userCode, later.expiresAt))?.id, third.id);
          assert.equal((await store.deviceGrants.findById(expired.id))?.userCode, userCode);
        }
      });

      it('the first poll is in time, however soon after the authorization', async (store) => {
        const grant = newDeviceGrant();
        await store.deviceGrants.create(grant);
        const verdict = await store.deviceGrants.recordPoll(grant.deviceCodeHash, grant.clientId, T0);
        assert.equal(verdict.kind, 'ok');
        assert.equal(grantOf(verdict).lastPolledAt, T0);
        assert.equal(grantOf(verdict).interval, 5);
      });

      it('a poll sooner than the interval answers slow_down and grows the interval by the step, for good', async (store) => {
        const grant = newDeviceGrant({ interval: 5 });
        await store.deviceGrants.create(grant);
        const { recordPoll } = store.deviceGrants;
        assert.equal((await recordPoll(grant.deviceCodeHash, grant.clientId, T0)).kind, 'ok');
        const early = await recordPoll(grant.deviceCodeHash, grant.clientId, T0 + 2 * SECOND);
        assert.equal(early.kind, 'slow_down');
        assert.equal(grantOf(early).interval, 10);
        assert.equal(grantOf(early).lastPolledAt, T0 + 2 * SECOND);
        // 5 s later would have been in time before; now the interval is 10 s.
        const stillEarly = await recordPoll(grant.deviceCodeHash, grant.clientId, T0 + 7 * SECOND);
        assert.equal(stillEarly.kind, 'slow_down');
        assert.equal(grantOf(stillEarly).interval, 15);
        const inTime = await recordPoll(grant.deviceCodeHash, grant.clientId, T0 + 22 * SECOND);
        assert.equal(inTime.kind, 'ok');
        assert.equal(grantOf(inTime).interval, 15);
        assert.equal((await store.deviceGrants.findById(grant.id))?.interval, 15);
      });

      it("a poll naming another client is unknown and leaves the grant's poll accounting alone", async (store) => {
        const grant = newDeviceGrant({ interval: 5 });
        await store.deviceGrants.create(grant);
        assert.equal((await store.deviceGrants.recordPoll(grant.deviceCodeHash, grant.clientId, T0)).kind, 'ok');
        const foreign = await store.deviceGrants.recordPoll(grant.deviceCodeHash, `${grant.clientId}-other`, T0 + SECOND);
        assert.deepEqual(foreign, { kind: 'unknown' });
        // The device's own next poll, on time, is judged against its own last poll only.
        const own = await store.deviceGrants.recordPoll(grant.deviceCodeHash, grant.clientId, T0 + 5 * SECOND);
        assert.equal(own.kind, 'ok');
        assert.equal(grantOf(own).interval, 5);
      });

      it('a poll exactly one interval after the last is in time', async (store) => {
        const grant = newDeviceGrant({ interval: 5 });
        await store.deviceGrants.create(grant);
        await store.deviceGrants.recordPoll(grant.deviceCodeHash, grant.clientId, T0);
        assert.equal((await store.deviceGrants.recordPoll(grant.deviceCodeHash, grant.clientId, T0 + 5 * SECOND)).kind, 'ok');
      });

      it('an approval keeps how the person authenticated (amr, acr) with the grant', async (store) => {
        const grant = newDeviceGrant();
        await store.deviceGrants.create(grant);
        await store.deviceGrants.decide(grant.id, { status: 'approved', userId: 'user-1', grantedScopes: ['openid'], authTime: T0, amr: ['fed', 'mfa'], acr: 'urn:example:loa:2' }, T0);
        const found = await store.deviceGrants.findById(grant.id);
        assert.deepEqual([found?.amr, found?.acr], [['fed', 'mfa'], 'urn:example:loa:2']);
      });

      it('a decided grant is not throttled: the device redeems at once', async (store) => {
        const grant = newDeviceGrant();
        await store.deviceGrants.create(grant);
        await store.deviceGrants.recordPoll(grant.deviceCodeHash, grant.clientId, T0);
        await store.deviceGrants.decide(grant.id, { status: 'approved', userId: 'user-1', grantedScopes: ['openid'], authTime: T0, amr: ['pwd'], acr: null }, T0);
        const verdict = await store.deviceGrants.recordPoll(grant.deviceCodeHash, grant.clientId, T0 + 100);
        assert.equal(verdict.kind, 'ok');
        assert.equal(grantOf(verdict).status, 'approved');
        assert.equal(grantOf(verdict).interval, 5);
      });

      it('a poll of an unknown device code is unknown', async (store) => {
        assert.deepEqual(await store.deviceGrants.recordPoll('no-such-hash', 'demo-tv', T0), { kind: 'unknown' });
      });

      for (const { title, decided, polls } of PACING) {
        it(`pacing: ${title}`, async (store) => {
          const grant = newDeviceGrant({ interval: 5 });
          await store.deviceGrants.create(grant);
          const decision: Decision =
            decided === 'approved'
              ? { status: 'approved', userId: 'user-1', grantedScopes: ['openid'], authTime: T0, amr: ['pwd'], acr: null }
              : { status: 'denied', userId: 'user-1' };
          if (decided) assert.equal(await store.deviceGrants.decide(grant.id, decision, T0), true);
          const pacing: PollPacing = { status: decided ?? 'pending', interval: grant.interval, lastPolledAt: null };
          for (const [offset, expected] of polls) {
            const at = T0 + offset;
            const judged = judgePoll(pacing, at);
            const rule = judged.slowDown ? 'slow_down' : 'ok';
            assert.equal(rule, expected, `judgePoll at +${offset} ms`);
            const verdict = await store.deviceGrants.recordPoll(grant.deviceCodeHash, grant.clientId, at);
            assert.equal(verdict.kind, rule, `the store at +${offset} ms`);
            assert.equal(grantOf(verdict).interval, judged.interval, `the interval after +${offset} ms`);
            assert.equal(grantOf(verdict).lastPolledAt, at);
            pacing.interval = judged.interval;
            pacing.lastPolledAt = at;
          }
          assert.equal((await store.deviceGrants.findById(grant.id))?.interval, pacing.interval, 'the interval stays grown');
        });
      }

      it('20 concurrent polls at one instant: one in time, 19 slow_down, each growing the interval', async (store) => {
        const grant = newDeviceGrant({ interval: 5 });
        await store.deviceGrants.create(grant);
        const verdicts = await Promise.all(
          Array.from({ length: 20 }, () => store.deviceGrants.recordPoll(grant.deviceCodeHash, grant.clientId, T0)),
        );
        assert.equal(count(verdicts, (verdict) => verdict.kind === 'ok'), 1);
        assert.equal(count(verdicts, (verdict) => verdict.kind === 'slow_down'), 19);
        assert.equal((await store.deviceGrants.findById(grant.id))?.interval, 5 + 19 * SLOW_DOWN_STEP_SECONDS);
      });

      it('approve records the user, the granted scopes and the times', async (store) => {
        const grant = newDeviceGrant();
        await store.deviceGrants.create(grant);
        const won = await store.deviceGrants.decide(
          grant.id,
          { status: 'approved', userId: 'user-1', grantedScopes: ['openid'], authTime: T0 - SECOND, amr: ['pwd'], acr: null },
          T0 + SECOND,
        );
        assert.equal(won, true);
        const found = await store.deviceGrants.findById(grant.id);
        assert.equal(found?.status, 'approved');
        assert.equal(found?.userId, 'user-1');
        assert.deepEqual(found?.grantedScopes, ['openid']);
        assert.equal(found?.authTime, T0 - SECOND);
        assert.equal(found?.decidedAt, T0 + SECOND);
      });

      it('deny records the user (or none) and the time', async (store) => {
        const withUser = newDeviceGrant();
        const withoutUser = newDeviceGrant();
        await store.deviceGrants.create(withUser);
        await store.deviceGrants.create(withoutUser);
        assert.equal(await store.deviceGrants.decide(withUser.id, { status: 'denied', userId: 'user-1' }, T0 + SECOND), true);
        assert.equal(await store.deviceGrants.decide(withoutUser.id, { status: 'denied', userId: null }, T0 + SECOND), true);
        const denied = await store.deviceGrants.findById(withUser.id);
        assert.equal(denied?.status, 'denied');
        assert.equal(denied?.userId, 'user-1');
        assert.equal(denied?.decidedAt, T0 + SECOND);
        assert.equal(denied?.grantedScopes, null);
        assert.equal((await store.deviceGrants.findById(withoutUser.id))?.userId, null);
      });

      it('a decided grant cannot be decided again', async (store) => {
        const grant = newDeviceGrant();
        await store.deviceGrants.create(grant);
        assert.equal(await store.deviceGrants.decide(grant.id, { status: 'denied', userId: null }, T0), true);
        assert.equal(
          await store.deviceGrants.decide(grant.id, { status: 'approved', userId: 'user-1', grantedScopes: [], authTime: T0, amr: ['pwd'], acr: null }, T0),
          false,
        );
        assert.equal((await store.deviceGrants.findById(grant.id))?.status, 'denied');
      });

      it('an expired grant cannot be decided, and an unknown one is not decided', async (store) => {
        const grant = newDeviceGrant();
        await store.deviceGrants.create(grant);
        assert.equal(
          await store.deviceGrants.decide(grant.id, { status: 'approved', userId: 'user-1', grantedScopes: [], authTime: T0, amr: ['pwd'], acr: null }, grant.expiresAt),
          false,
        );
        assert.equal((await store.deviceGrants.findById(grant.id))?.status, 'pending');
        assert.equal(await store.deviceGrants.decide('nope', { status: 'denied', userId: null }, T0), false);
      });

      it('20 concurrent decisions, approvals and denials mixed, have exactly one winner', async (store) => {
        const grant = newDeviceGrant();
        await store.deviceGrants.create(grant);
        const outcomes = await Promise.all(
          Array.from({ length: 20 }, (_, index) =>
            store.deviceGrants.decide(
              grant.id,
              index % 2 === 0
                ? { status: 'approved', userId: `user-${index}`, grantedScopes: ['openid'], authTime: T0, amr: ['pwd'], acr: null }
                : { status: 'denied', userId: `user-${index}` },
              T0 + SECOND,
            ),
          ),
        );
        assert.equal(count(outcomes, Boolean), 1);
        const winner = outcomes.indexOf(true);
        const found = await store.deviceGrants.findById(grant.id);
        assert.equal(found?.status, winner % 2 === 0 ? 'approved' : 'denied');
        assert.equal(found?.userId, `user-${winner}`);
      });

      it('redeem moves an approved grant to redeemed and returns it with its token family', async (store) => {
        const grant = await approved(store);
        const redeemed = await store.deviceGrants.redeem(grant.id, 'family-1', 'jkt-1', T0 + 2 * SECOND);
        assert.equal(redeemed?.status, 'redeemed');
        assert.equal(redeemed?.grantId, 'family-1');
        assert.equal(redeemed?.dpopJkt, 'jkt-1');
        assert.deepEqual(redeemed?.grantedScopes, ['openid']);
        assert.deepEqual(await store.deviceGrants.findById(grant.id), redeemed);
      });

      it('a code is redeemed once: the second redeem gets null', async (store) => {
        const grant = await approved(store);
        assert.ok(await store.deviceGrants.redeem(grant.id, 'family-1', null, T0 + 2 * SECOND));
        assert.equal(await store.deviceGrants.redeem(grant.id, 'family-2', null, T0 + 2 * SECOND), null);
        assert.equal((await store.deviceGrants.findById(grant.id))?.grantId, 'family-1');
      });

      it('pending, denied and expired grants are not redeemed', async (store) => {
        const pending = newDeviceGrant();
        await store.deviceGrants.create(pending);
        assert.equal(await store.deviceGrants.redeem(pending.id, 'family', null, T0), null);
        const denied = newDeviceGrant();
        await store.deviceGrants.create(denied);
        await store.deviceGrants.decide(denied.id, { status: 'denied', userId: null }, T0);
        assert.equal(await store.deviceGrants.redeem(denied.id, 'family', null, T0), null);
        const expired = await approved(store);
        assert.equal(await store.deviceGrants.redeem(expired.id, 'family', null, expired.expiresAt), null);
        assert.equal((await store.deviceGrants.findById(expired.id))?.status, 'approved');
      });

      it('50 concurrent redeems of one approved code have exactly one winner', async (store) => {
        const grant = await approved(store);
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, index) => store.deviceGrants.redeem(grant.id, `family-${index}`, null, T0 + 2 * SECOND)),
        );
        const winners = results.filter((result) => result !== null);
        assert.equal(winners.length, 1);
        assert.equal((await store.deviceGrants.findById(grant.id))?.grantId, winners[0]!.grantId);
      });

      it('claimExpired reports each expired grant once, oldest first, up to the limit', async (store) => {
        const late = newDeviceGrant({ expiresAt: T0 + 300 * SECOND });
        const early = newDeviceGrant({ expiresAt: T0 + 100 * SECOND });
        const middle = newDeviceGrant({ expiresAt: T0 + 200 * SECOND });
        const live = newDeviceGrant({ expiresAt: T0 + 900 * SECOND });
        for (const grant of [late, early, middle, live]) await store.deviceGrants.create(grant);
        const now = T0 + 600 * SECOND;
        const first = await store.deviceGrants.claimExpired(now, 2);
        assert.deepEqual(first.map((grant) => grant.id), [early.id, middle.id]);
        const second = await store.deviceGrants.claimExpired(now, 2);
        assert.deepEqual(second.map((grant) => grant.id), [late.id]);
        assert.deepEqual(await store.deviceGrants.claimExpired(now, 2), []);
      });

      it('claimExpired claims pending and decided grants that ended unredeemed, never redeemed ones', async (store) => {
        const denied = newDeviceGrant();
        await store.deviceGrants.create(denied);
        await store.deviceGrants.decide(denied.id, { status: 'denied', userId: null }, T0);
        const approvedGrant = await approved(store);
        const redeemed = await approved(store);
        await store.deviceGrants.redeem(redeemed.id, 'family', null, T0 + 2 * SECOND);
        const pending = newDeviceGrant();
        await store.deviceGrants.create(pending);
        const reported = await store.deviceGrants.claimExpired(T0 + 3600 * SECOND, 100);
        assert.deepEqual(reported.map((grant) => grant.id).sort(), [denied.id, approvedGrant.id, pending.id].sort());
        assert.deepEqual(await store.deviceGrants.claimExpired(T0 + 3600 * SECOND, 100), [], 'each claimed once');
        assert.ok(await store.deviceGrants.findById(approvedGrant.id));
      });

      it('concurrent claimExpired calls report each expired grant exactly once', async (store) => {
        const grants = Array.from({ length: 30 }, (_, index) => newDeviceGrant({ expiresAt: T0 + (index + 1) * SECOND }));
        for (const grant of grants) await store.deviceGrants.create(grant);
        const batches = await Promise.all(Array.from({ length: 6 }, () => store.deviceGrants.claimExpired(T0 + 600 * SECOND, 10)));
        const reported = batches.flat().map((grant) => grant.id);
        assert.equal(reported.length, 30);
        assert.equal(new Set(reported).size, 30);
      });

      it('sweep deletes grants expired longer ago than the retention, and only those', async (store) => {
        const old = newDeviceGrant({ expiresAt: T0 + 100 * SECOND });
        const recent = newDeviceGrant({ expiresAt: T0 + 500 * SECOND });
        const live = newDeviceGrant({ expiresAt: T0 + 900 * SECOND });
        for (const grant of [old, recent, live]) await store.deviceGrants.create(grant);
        // now = T0+700 s, retention 300 s: deletes what expired at or before T0+400 s.
        assert.equal(await store.deviceGrants.sweep(T0 + 700 * SECOND, 300), 1);
        assert.equal(await store.deviceGrants.findById(old.id), null);
        assert.ok(await store.deviceGrants.findById(recent.id));
        assert.ok(await store.deviceGrants.findById(live.id));
        assert.equal(await store.deviceGrants.sweep(T0 + 700 * SECOND, 300), 0);
      });
    });

    describe('grants', () => {
      it('create and get round-trip a grant field for field', async (store) => {
        const grant = newGrant({ dpopJkt: 'jkt', deviceModel: 'TV-9000', resources: ['https://tools.example.com/mcp', 'https://calendar.example.com'] });
        await store.grants.create(grant);
        assert.deepEqual(await store.grants.get(grant.id), { ...grant, lastUsedAt: null, revokedAt: null, revokedReason: null });
        assert.equal(await store.grants.get('nope'), null);
      });

      it('listByUser gives a user’s grants, newest first', async (store) => {
        const older = newGrant({ userId: 'ada', createdAt: T0 });
        const newer = newGrant({ userId: 'ada', createdAt: T0 + SECOND });
        const other = newGrant({ userId: 'bob' });
        for (const grant of [older, newer, other]) await store.grants.create(grant);
        assert.deepEqual((await store.grants.listByUser('ada')).map((grant) => grant.id), [newer.id, older.id]);
        assert.deepEqual(await store.grants.listByUser('nobody'), []);
      });

      it('list with activeOnly leaves out revoked and expired grants', async (store) => {
        const active = newGrant({ createdAt: T0 + 2 * SECOND });
        const revoked = newGrant({ createdAt: T0 + SECOND });
        const expired = newGrant({ createdAt: T0, expiresAt: T0 + 10 * SECOND });
        for (const grant of [active, revoked, expired]) await store.grants.create(grant);
        await store.grants.revoke(revoked.id, T0 + 5 * SECOND, 'admin');
        const now = T0 + 20 * SECOND;
        assert.deepEqual((await store.grants.list({ activeOnly: true, now })).map((grant) => grant.id), [active.id]);
        assert.deepEqual((await store.grants.list({ activeOnly: false, now })).map((grant) => grant.id), [active.id, revoked.id, expired.id]);
      });

      it('touch records the last use', async (store) => {
        const grant = newGrant();
        await store.grants.create(grant);
        await store.grants.touch(grant.id, T0 + 42 * SECOND);
        assert.equal((await store.grants.get(grant.id))?.lastUsedAt, T0 + 42 * SECOND);
      });

      it('revoke revokes the grant and every refresh and access token of it, and no other', async (store) => {
        const grant = newGrant();
        const other = newGrant();
        await store.grants.create(grant);
        await store.grants.create(other);
        const refresh = [newRefreshToken(grant.id), newRefreshToken(grant.id)];
        const access = [newAccessToken({ grantId: grant.id }), newAccessToken({ grantId: grant.id, tokenHash: unique('at') })];
        const otherRefresh = newRefreshToken(other.id);
        const otherAccess = newAccessToken({ grantId: other.id });
        for (const token of [...refresh, otherRefresh]) await store.refreshTokens.create(token);
        for (const token of [...access, otherAccess]) await store.accessTokens.create(token);
        const now = T0 + 60 * SECOND;

        assert.equal(await store.grants.revoke(grant.id, now, 'refresh_token_reuse'), true);
        const revoked = await store.grants.get(grant.id);
        assert.equal(revoked?.revokedAt, now);
        assert.equal(revoked?.revokedReason, 'refresh_token_reuse');
        for (const token of refresh) assert.equal((await store.refreshTokens.find(token.tokenHash))?.revokedAt, now);
        for (const token of access) assert.equal((await store.accessTokens.findByJti(token.jti))?.revokedAt, now);
        assert.equal((await store.grants.get(other.id))?.revokedAt, null);
        assert.equal((await store.refreshTokens.find(otherRefresh.tokenHash))?.revokedAt, null);
        assert.equal((await store.accessTokens.findByJti(otherAccess.jti))?.revokedAt, null);
      });

      it('revoking a revoked or unknown grant is false and keeps the first revocation', async (store) => {
        const grant = newGrant();
        await store.grants.create(grant);
        assert.equal(await store.grants.revoke(grant.id, T0 + SECOND, 'first'), true);
        assert.equal(await store.grants.revoke(grant.id, T0 + 2 * SECOND, 'second'), false);
        const found = await store.grants.get(grant.id);
        assert.equal(found?.revokedAt, T0 + SECOND);
        assert.equal(found?.revokedReason, 'first');
        assert.equal(await store.grants.revoke('nope', T0, 'x'), false);
      });
    });

    describe('refresh tokens', () => {
      it('create and find round-trip a token', async (store) => {
        const token = newRefreshToken('family');
        await store.refreshTokens.create(token);
        assert.deepEqual(await store.refreshTokens.find(token.tokenHash), { ...token, rotatedAt: null, revokedAt: null });
        assert.equal(await store.refreshTokens.find('nope'), null);
      });

      it('rotate retires the old token, stores its successor and returns the old one', async (store) => {
        const old = newRefreshToken('family');
        await store.refreshTokens.create(old);
        const successor = newRefreshToken('family', { createdAt: T0 + SECOND });
        const result = await store.refreshTokens.rotate(old.tokenHash, successor, T0 + SECOND);
        assert.deepEqual(result, { kind: 'rotated', previous: { ...old, rotatedAt: null, revokedAt: null } });
        assert.equal((await store.refreshTokens.find(old.tokenHash))?.rotatedAt, T0 + SECOND);
        assert.deepEqual(await store.refreshTokens.find(successor.tokenHash), { ...successor, rotatedAt: null, revokedAt: null });
      });

      it('rotating a rotated token again is reuse, and stores no successor', async (store) => {
        const old = newRefreshToken('family');
        await store.refreshTokens.create(old);
        await store.refreshTokens.rotate(old.tokenHash, newRefreshToken('family'), T0 + SECOND);
        const replay = newRefreshToken('family');
        const result = await store.refreshTokens.rotate(old.tokenHash, replay, T0 + 2 * SECOND);
        assert.equal(result.kind, 'reused');
        assert.equal(result.kind === 'reused' && result.previous.tokenHash, old.tokenHash);
        assert.equal(await store.refreshTokens.find(replay.tokenHash), null);
      });

      it('rotating an unknown, revoked or expired token is invalid, and stores no successor', async (store) => {
        const revoked = newRefreshToken('family');
        const expired = newRefreshToken('family', { expiresAt: T0 + SECOND });
        await store.refreshTokens.create(revoked);
        await store.refreshTokens.create(expired);
        await store.refreshTokens.revoke(revoked.tokenHash, T0);
        for (const hash of ['nope', revoked.tokenHash, expired.tokenHash]) {
          const successor = newRefreshToken('family');
          assert.deepEqual(await store.refreshTokens.rotate(hash, successor, T0 + SECOND), { kind: 'invalid' });
          assert.equal(await store.refreshTokens.find(successor.tokenHash), null);
        }
        assert.equal((await store.refreshTokens.find(expired.tokenHash))?.rotatedAt, null);
      });

      it('20 concurrent rotations of one token: exactly one rotated, the rest reused, one successor stored (3 rounds)', async (store) => {
        // Rounds, as for user codes: later ones run on a warm pool, all at once.
        for (let round = 0; round < 3; round++) {
          const old = newRefreshToken('family');
          await store.refreshTokens.create(old);
          const successors = Array.from({ length: 20 }, () => newRefreshToken('family'));
          const results = await Promise.all(successors.map((successor) => store.refreshTokens.rotate(old.tokenHash, successor, T0 + SECOND)));
          assert.equal(count(results, (result) => result.kind === 'rotated'), 1, `round ${round}`);
          assert.equal(count(results, (result) => result.kind === 'reused'), 19, `round ${round}`);
          const stored = await Promise.all(successors.map((successor) => store.refreshTokens.find(successor.tokenHash)));
          const winner = results.findIndex((result) => result.kind === 'rotated');
          assert.deepEqual(
            stored.map((token) => token !== null),
            successors.map((_, index) => index === winner),
          );
        }
      });

      it('revoke marks the token once and returns it; an unknown token gives null', async (store) => {
        const token = newRefreshToken('family');
        await store.refreshTokens.create(token);
        assert.equal((await store.refreshTokens.revoke(token.tokenHash, T0 + SECOND))?.revokedAt, T0 + SECOND);
        // Revoking again keeps the first instant (RFC 7009 §2.2: revoking a revoked token is fine).
        assert.equal((await store.refreshTokens.revoke(token.tokenHash, T0 + 2 * SECOND))?.revokedAt, T0 + SECOND);
        assert.equal(await store.refreshTokens.revoke('nope', T0), null);
      });

      it('sweep deletes expired tokens only', async (store) => {
        const expired = newRefreshToken('family', { expiresAt: T0 + SECOND });
        const live = newRefreshToken('family', { expiresAt: T0 + 100 * SECOND });
        await store.refreshTokens.create(expired);
        await store.refreshTokens.create(live);
        assert.equal(await store.refreshTokens.sweep(T0 + SECOND), 1);
        assert.equal(await store.refreshTokens.find(expired.tokenHash), null);
        assert.ok(await store.refreshTokens.find(live.tokenHash));
      });
    });

    describe('token exchanges', () => {
      const WINDOW = 60 * SECOND;
      /** A redemption of `deviceGrantId` as the token endpoint makes it, with fresh tokens. */
      const redemption = (deviceGrantId: string, overrides: Partial<DeviceCodeRedemption> = {}): DeviceCodeRedemption => {
        const grant = newGrant();
        return {
          deviceGrantId,
          clientId: 'tv',
          dpopJkt: null,
          now: T0 + 2 * SECOND,
          retryWindowMs: WINDOW,
          grant,
          accessToken: newAccessToken({ grantId: grant.id }),
          refreshToken: newRefreshToken(grant.id),
          ...overrides,
        };
      };
      const liveRefreshTokens = async (store: Store, hashes: string[]) =>
        (await Promise.all(hashes.map((hash) => store.refreshTokens.find(hash)))).filter((token) => token && token.revokedAt === null);

      it('redeeming an approved code writes the redemption, the family and its tokens together', async (store) => {
        const deviceGrant = await approved(store);
        const input = redemption(deviceGrant.id, { dpopJkt: 'jkt-1' });
        const result = await store.tokenExchanges.redeemDeviceCode(input);
        assert.equal(result.kind, 'redeemed');
        assert.equal(result.kind === 'redeemed' && result.grantId, input.grant.id);
        const stored = await store.deviceGrants.findById(deviceGrant.id);
        assert.equal(stored?.status, 'redeemed');
        assert.equal(stored?.grantId, input.grant.id);
        assert.equal(stored?.dpopJkt, 'jkt-1');
        assert.equal((await store.grants.get(input.grant.id))?.clientId, 'tv');
        assert.equal((await store.accessTokens.findByJti(input.accessToken.jti))?.grantId, input.grant.id);
        assert.equal((await store.refreshTokens.find(input.refreshToken!.tokenHash))?.grantId, input.grant.id);
      });

      it('a redemption that fails half-way leaves nothing: the code stays approved', async (store) => {
        const deviceGrant = await approved(store);
        const taken = newAccessToken();
        await store.accessTokens.create(taken);
        // The access token's jti collides: the last write fails, so the whole exchange rolls back.
        const input = redemption(deviceGrant.id);
        await assert.rejects(store.tokenExchanges.redeemDeviceCode({ ...input, accessToken: { ...input.accessToken, jti: taken.jti } }));
        assert.equal((await store.deviceGrants.findById(deviceGrant.id))?.status, 'approved');
        assert.equal(await store.grants.get(input.grant.id), null);
        assert.equal(await store.refreshTokens.find(input.refreshToken!.tokenHash), null);
        assert.equal((await store.tokenExchanges.redeemDeviceCode(redemption(deviceGrant.id))).kind, 'redeemed');
      });

      it('a pending, denied, expired or unknown code is refused and nothing is written', async (store) => {
        const pending = newDeviceGrant();
        await store.deviceGrants.create(pending);
        const denied = newDeviceGrant();
        await store.deviceGrants.create(denied);
        await store.deviceGrants.decide(denied.id, { status: 'denied', userId: null }, T0 + SECOND);
        const expired = await approved(store);
        for (const [id, now] of [[pending.id, T0 + 2 * SECOND], [denied.id, T0 + 2 * SECOND], [expired.id, expired.expiresAt], ['nope', T0]] as const) {
          const input = redemption(id, { now });
          assert.deepEqual(await store.tokenExchanges.redeemDeviceCode(input), { kind: 'refused' });
          assert.equal(await store.grants.get(input.grant.id), null);
          assert.equal(await store.accessTokens.findByJti(input.accessToken.jti), null);
        }
      });

      it('a retry of the same client and key within the window gets fresh tokens of the same family; the earlier ones are revoked', async (store) => {
        const deviceGrant = await approved(store);
        const first = redemption(deviceGrant.id, { dpopJkt: 'jkt-1' });
        await store.tokenExchanges.redeemDeviceCode(first);
        const retry = redemption(deviceGrant.id, { dpopJkt: 'jkt-1', now: first.now + WINDOW - 1 });
        const result = await store.tokenExchanges.redeemDeviceCode(retry);
        assert.equal(result.kind, 'retried');
        assert.equal(result.kind === 'retried' && result.grantId, first.grant.id);
        assert.equal(await store.grants.get(retry.grant.id), null, 'no second family');
        assert.equal((await store.refreshTokens.find(retry.refreshToken!.tokenHash))?.grantId, first.grant.id);
        assert.equal((await store.accessTokens.findByJti(retry.accessToken.jti))?.grantId, first.grant.id);
        assert.equal((await store.refreshTokens.find(first.refreshToken!.tokenHash))?.revokedAt, retry.now);
        assert.equal((await store.accessTokens.findByJti(first.accessToken.jti))?.revokedAt, retry.now);
        assert.equal((await store.grants.get(first.grant.id))?.revokedAt, null, 'the family lives');
      });

      it('a retry by another client, with another or no key, or after the window is refused', async (store) => {
        const deviceGrant = await approved(store);
        const first = redemption(deviceGrant.id, { dpopJkt: 'jkt-1' });
        await store.tokenExchanges.redeemDeviceCode(first);
        for (const overrides of [{ clientId: 'other' }, { dpopJkt: 'jkt-2' }, { dpopJkt: null }, { now: first.now + WINDOW }, { retryWindowMs: 0 }]) {
          const retry = redemption(deviceGrant.id, { dpopJkt: 'jkt-1', ...overrides });
          assert.deepEqual(await store.tokenExchanges.redeemDeviceCode(retry), { kind: 'refused' }, JSON.stringify(overrides));
          assert.equal(await store.refreshTokens.find(retry.refreshToken!.tokenHash), null);
        }
        assert.equal((await store.refreshTokens.find(first.refreshToken!.tokenHash))?.revokedAt, null, 'a refused retry revokes nothing');
      });

      it('a retry is refused once the family has used its refresh token, or was revoked', async (store) => {
        const used = await approved(store);
        const first = redemption(used.id);
        await store.tokenExchanges.redeemDeviceCode(first);
        const rotation = await store.tokenExchanges.refresh({
          presentedHash: first.refreshToken!.tokenHash, successor: newRefreshToken(first.grant.id), accessToken: newAccessToken(), now: first.now + SECOND, retryWindowMs: WINDOW, reuseReason: 'reuse',
        });
        assert.equal(rotation.kind, 'rotated');
        assert.deepEqual(await store.tokenExchanges.redeemDeviceCode(redemption(used.id, { now: first.now + 2 * SECOND })), { kind: 'refused' });

        const revoked = await approved(store);
        const second = redemption(revoked.id);
        await store.tokenExchanges.redeemDeviceCode(second);
        await store.grants.revoke(second.grant.id, second.now, 'signed_out');
        assert.deepEqual(await store.tokenExchanges.redeemDeviceCode(redemption(revoked.id, { now: second.now + SECOND })), { kind: 'refused' });
      });

      it('50 concurrent redemptions of one approved code create one family with one live refresh token', async (store) => {
        const deviceGrant = await approved(store);
        const inputs = Array.from({ length: 50 }, () => redemption(deviceGrant.id));
        const results = await Promise.all(inputs.map((input) => store.tokenExchanges.redeemDeviceCode(input)));
        assert.equal(count(results, (result) => result.kind === 'redeemed'), 1);
        assert.equal(count(results, (result) => result.kind === 'retried'), 49);
        const family = (await store.deviceGrants.findById(deviceGrant.id))?.grantId;
        assert.ok(results.every((result) => result.kind !== 'refused' && result.grantId === family));
        assert.equal((await liveRefreshTokens(store, inputs.map((input) => input.refreshToken!.tokenHash))).length, 1);
      });

      describe('refresh', () => {
        /** A family with one refresh token, as a redemption leaves it. */
        async function family(store: Store) {
          const grant = newGrant();
          await store.grants.create(grant);
          const token = newRefreshToken(grant.id);
          await store.refreshTokens.create(token);
          return { grant, token };
        }
        const exchange = (presentedHash: string, grantId: string, now: number): RefreshExchange => ({
          presentedHash,
          successor: newRefreshToken(grantId, { createdAt: now }),
          accessToken: newAccessToken({ grantId }),
          now,
          retryWindowMs: WINDOW,
          reuseReason: 'refresh_token_reuse',
        });

        it('rotates the token, stores successor and access token, and touches the family, in one commit', async (store) => {
          const { grant, token } = await family(store);
          const input = exchange(token.tokenHash, grant.id, T0 + SECOND);
          const result = await store.tokenExchanges.refresh(input);
          assert.deepEqual(result, { kind: 'rotated', previous: { ...token, rotatedAt: null, revokedAt: null } });
          assert.equal((await store.refreshTokens.find(token.tokenHash))?.rotatedAt, T0 + SECOND);
          assert.deepEqual(await store.refreshTokens.find(input.successor.tokenHash), { ...input.successor, rotatedAt: null, revokedAt: null });
          assert.equal((await store.accessTokens.findByJti(input.accessToken.jti))?.grantId, grant.id);
          assert.equal((await store.grants.get(grant.id))?.lastUsedAt, T0 + SECOND);
        });

        it('the predecessor of an unused successor, within the window, gets a new successor; the unused one is revoked', async (store) => {
          const { grant, token } = await family(store);
          const lost = exchange(token.tokenHash, grant.id, T0 + SECOND);
          await store.tokenExchanges.refresh(lost);
          const retry = exchange(token.tokenHash, grant.id, T0 + SECOND + WINDOW - 1);
          assert.equal((await store.tokenExchanges.refresh(retry)).kind, 'retried');
          assert.ok((await store.refreshTokens.find(lost.successor.tokenHash))?.revokedAt);
          assert.equal((await store.refreshTokens.find(retry.successor.tokenHash))?.revokedAt, null);
          assert.equal((await store.grants.get(grant.id))?.revokedAt, null);
          // The revoked successor presented later is reuse: the family goes.
          assert.equal((await store.tokenExchanges.refresh(exchange(lost.successor.tokenHash, grant.id, T0 + 3 * SECOND))).kind, 'reused');
          assert.equal((await store.grants.get(grant.id))?.revokedReason, 'refresh_token_reuse');
        });

        it('the predecessor after the window, or once its successor was used, is reuse and revokes the family', async (store) => {
          const late = await family(store);
          await store.tokenExchanges.refresh(exchange(late.token.tokenHash, late.grant.id, T0 + SECOND));
          assert.equal((await store.tokenExchanges.refresh(exchange(late.token.tokenHash, late.grant.id, T0 + SECOND + WINDOW))).kind, 'reused');
          assert.ok((await store.grants.get(late.grant.id))?.revokedAt);

          const used = await family(store);
          const first = exchange(used.token.tokenHash, used.grant.id, T0 + SECOND);
          await store.tokenExchanges.refresh(first);
          const second = exchange(first.successor.tokenHash, used.grant.id, T0 + 2 * SECOND);
          assert.equal((await store.tokenExchanges.refresh(second)).kind, 'rotated');
          const replay = exchange(used.token.tokenHash, used.grant.id, T0 + 3 * SECOND);
          assert.equal((await store.tokenExchanges.refresh(replay)).kind, 'reused');
          assert.equal(await store.refreshTokens.find(replay.successor.tokenHash), null);
          assert.ok((await store.refreshTokens.find(second.successor.tokenHash))?.revokedAt, 'the newest token of the family is revoked');
          assert.ok((await store.accessTokens.findByJti(second.accessToken.jti))?.revokedAt);
        });

        it('an unknown, revoked or expired token, or one of a revoked family, is invalid and writes nothing', async (store) => {
          const { grant, token } = await family(store);
          const expired = newRefreshToken(grant.id, { expiresAt: T0 + SECOND });
          await store.refreshTokens.create(expired);
          const revoked = newRefreshToken(grant.id);
          await store.refreshTokens.create(revoked);
          await store.refreshTokens.revoke(revoked.tokenHash, T0);
          for (const hash of ['nope', expired.tokenHash, revoked.tokenHash]) {
            const input = exchange(hash, grant.id, T0 + SECOND);
            assert.deepEqual(await store.tokenExchanges.refresh(input), { kind: 'invalid' });
            assert.equal(await store.refreshTokens.find(input.successor.tokenHash), null);
            assert.equal(await store.accessTokens.findByJti(input.accessToken.jti), null);
          }
          await store.grants.revoke(grant.id, T0, 'signed_out');
          assert.deepEqual(await store.tokenExchanges.refresh(exchange(token.tokenHash, grant.id, T0 + SECOND)), { kind: 'invalid' });
        });

        it('20 concurrent refreshes of one token: one rotated, the rest retries, one live successor (3 rounds)', async (store) => {
          for (let round = 0; round < 3; round++) {
            const { grant, token } = await family(store);
            const inputs = Array.from({ length: 20 }, () => exchange(token.tokenHash, grant.id, T0 + SECOND));
            const results = await Promise.all(inputs.map((input) => store.tokenExchanges.refresh(input)));
            assert.equal(count(results, (result) => result.kind === 'rotated'), 1, `round ${round}`);
            assert.equal(count(results, (result) => result.kind === 'retried'), 19, `round ${round}`);
            assert.equal((await liveRefreshTokens(store, inputs.map((input) => input.successor.tokenHash))).length, 1, `round ${round}`);
            assert.equal((await store.grants.get(grant.id))?.revokedAt, null);
          }
        });
      });
    });

    describe('access tokens', () => {
      it('a JWT record is found by jti; an opaque one also by its hash', async (store) => {
        const jwt = newAccessToken({ grantId: 'family', dpopJkt: 'jkt', act: { sub: 'downstream-agent', act: { sub: 'first-agent' } } });
        const opaque = newAccessToken({ tokenHash: unique('opaque') });
        await store.accessTokens.create(jwt);
        await store.accessTokens.create(opaque);
        assert.deepEqual(await store.accessTokens.findByJti(jwt.jti), { ...jwt, revokedAt: null });
        assert.deepEqual(await store.accessTokens.findByTokenHash(opaque.tokenHash!), { ...opaque, revokedAt: null });
        assert.equal(await store.accessTokens.findByJti('nope'), null);
        assert.equal(await store.accessTokens.findByTokenHash('nope'), null);
      });

      it('revoke is true once, then false; unknown is false', async (store) => {
        const token = newAccessToken();
        await store.accessTokens.create(token);
        assert.equal(await store.accessTokens.revoke(token.jti, T0 + SECOND), true);
        assert.equal(await store.accessTokens.revoke(token.jti, T0 + 2 * SECOND), false);
        assert.equal((await store.accessTokens.findByJti(token.jti))?.revokedAt, T0 + SECOND);
        assert.equal(await store.accessTokens.revoke('nope', T0), false);
      });

      it('sweep deletes expired tokens only', async (store) => {
        const expired = newAccessToken({ expiresAt: T0 + SECOND });
        const live = newAccessToken({ expiresAt: T0 + 100 * SECOND });
        await store.accessTokens.create(expired);
        await store.accessTokens.create(live);
        assert.equal(await store.accessTokens.sweep(T0 + 2 * SECOND), 1);
        assert.equal(await store.accessTokens.findByJti(expired.jti), null);
        assert.ok(await store.accessTokens.findByJti(live.jti));
      });
    });

    describe('clients', () => {
      it('put, get and list round-trip every field', async (store) => {
        const device = newClient({ clientId: 'b-tv' });
        const service = newClient({
          clientId: 'a-service',
          secretHash: 'secret-hash',
          grantTypes: ['client_credentials'],
          scopes: [],
          accessTokenFormat: 'opaque',
          mayIntrospect: true,
          audience: 'https://api.example.com',
          disabled: true,
          dpopRequired: true,
          phishing: {
            allowedNetworks: ['192.0.2.0/24', '2001:db8::/32'],
            sameNetworkRequired: true,
            registeredDevicesOnly: true,
            userCodeDenyPrefixes: ['MSFT', 'HLP'],
            deviceNameFilter: 'refuse',
          },
          registration: 'dynamic',
          allowedOrigins: ['https://tv.example.com', 'http://127.0.0.1:8080'],
          approvesDevicesOf: ['b-tv', 'c-tv'],
        });
        await store.clients.put(device);
        await store.clients.put(service);
        assert.deepEqual(await store.clients.get('b-tv'), device);
        assert.deepEqual(await store.clients.get('a-service'), service);
        assert.deepEqual(await store.clients.list(), [service, device]);
        assert.equal(await store.clients.get('nope'), null);
      });

      it('put replaces a client with the same id', async (store) => {
        const client = newClient();
        await store.clients.put(client);
        const changed = { ...client, name: 'Renamed', disabled: true, scopes: ['openid'], pollInterval: 10, allowedOrigins: ['https://tv.example.com'] };
        await store.clients.put(changed);
        assert.deepEqual(await store.clients.get(client.clientId), changed);
        assert.equal((await store.clients.list()).length, 1);
      });

      it('remove is true for a client that was there, false after', async (store) => {
        const client = newClient();
        await store.clients.put(client);
        assert.equal(await store.clients.remove(client.clientId), true);
        assert.equal(await store.clients.get(client.clientId), null);
        assert.equal(await store.clients.remove(client.clientId), false);
      });
    });

    describe('registered devices', () => {
      const device = (clientId: string, jkt: string, at = T0) => ({ id: unique('device'), clientId, jkt, name: 'Kiosk 3', createdAt: at });

      it('enroll, find, list (per client, oldest first) and remove', async (store) => {
        const first = device('kiosk', 'jkt-1');
        const second = { ...device('kiosk', 'jkt-2', T0 + SECOND), name: null };
        const other = device('tv', 'jkt-1');
        for (const record of [first, second, other]) assert.equal(await store.registeredDevices.enroll(record), true);
        assert.deepEqual(await store.registeredDevices.find('kiosk', 'jkt-1'), first);
        assert.equal(await store.registeredDevices.find('kiosk', 'jkt-3'), null);
        assert.equal(await store.registeredDevices.find('other-client', 'jkt-2'), null, 'a key counts only for the client it was enrolled for');
        assert.deepEqual(await store.registeredDevices.list('kiosk'), [first, second]);
        assert.equal((await store.registeredDevices.list()).length, 3);
        assert.equal(await store.registeredDevices.remove(first.id), true);
        assert.equal(await store.registeredDevices.remove(first.id), false);
        assert.equal(await store.registeredDevices.find('kiosk', 'jkt-1'), null);
      });

      it('a key is enrolled once per client', async (store) => {
        assert.equal(await store.registeredDevices.enroll(device('kiosk', 'jkt-same')), true);
        assert.equal(await store.registeredDevices.enroll(device('kiosk', 'jkt-same')), false);
        assert.equal((await store.registeredDevices.list('kiosk')).length, 1);
      });
    });

    describe('resources', () => {
      it('put, get and list round-trip a resource server, ordered by identifier', async (store) => {
        const tools = { resource: 'https://tools.example.com/mcp', name: 'Tools', createdAt: T0 };
        const calendar = { resource: 'https://calendar.example.com', name: 'Calendar', createdAt: T0 + SECOND };
        await store.resources.put(tools);
        await store.resources.put(calendar);
        assert.deepEqual(await store.resources.get(tools.resource), tools);
        assert.deepEqual(await store.resources.list(), [calendar, tools]);
        assert.equal(await store.resources.get('https://nope.example.com'), null);
      });

      it('put replaces a resource of the same identifier; remove is true once', async (store) => {
        const api = { resource: 'https://api.example.com', name: 'API', createdAt: T0 };
        await store.resources.put(api);
        await store.resources.put({ ...api, name: 'Renamed' });
        assert.equal((await store.resources.get(api.resource))?.name, 'Renamed');
        assert.equal((await store.resources.list()).length, 1);
        assert.equal(await store.resources.remove(api.resource), true);
        assert.equal(await store.resources.remove(api.resource), false);
        assert.equal(await store.resources.get(api.resource), null);
      });
    });

    describe('users', () => {
      it('create, get, getByUsername and list (by username) round-trip every field', async (store) => {
        const zed = newUser({ username: 'zed', name: null, email: null, emailVerified: false, disabled: true });
        const ada = newUser({ username: 'ada' });
        await store.users.create(zed);
        await store.users.create(ada);
        assert.deepEqual(await store.users.get(zed.id), zed);
        assert.deepEqual(await store.users.getByUsername('ada'), ada);
        assert.deepEqual(await store.users.list(), [ada, zed]);
        assert.equal(await store.users.get('nope'), null);
        assert.equal(await store.users.getByUsername('nope'), null);
      });

      it('a username in use is refused with UsernameTakenError', async (store) => {
        await store.users.create(newUser({ username: 'ada' }));
        await assert.rejects(store.users.create(newUser({ username: 'ada' })), { name: 'UsernameTakenError' });
        assert.equal((await store.users.list()).length, 1);
      });

      it('setPassword replaces the hash of a known user only', async (store) => {
        const user = newUser();
        await store.users.create(user);
        assert.equal(await store.users.setPassword(user.id, 'new-hash'), true);
        assert.equal((await store.users.get(user.id))?.passwordHash, 'new-hash');
        assert.equal(await store.users.setPassword('nope', 'new-hash'), false);
      });

      it('updateProfile replaces name, e-mail and its verification of a known user only', async (store) => {
        const user = newUser({ name: 'Old', email: 'old@example.com', emailVerified: false });
        await store.users.create(user);
        assert.equal(await store.users.updateProfile(user.id, { name: 'New', email: null, emailVerified: true }), true);
        assert.deepEqual(await store.users.get(user.id), { ...user, name: 'New', email: null, emailVerified: true });
        assert.equal(await store.users.updateProfile('nope', { name: 'New', email: null, emailVerified: true }), false);
      });

      it('remove is true for a user that was there, false after', async (store) => {
        const user = newUser();
        await store.users.create(user);
        assert.equal(await store.users.remove(user.id), true);
        assert.equal(await store.users.get(user.id), null);
        assert.equal(await store.users.remove(user.id), false);
      });

      it('an upstream identity is found by (issuer, subject) only: the same subject at another issuer is nobody', async (store) => {
        const user = newUser({ passwordHash: '' });
        await store.users.createWithIdentity(user, { issuer: 'https://a.example', subject: 'sub-1', createdAt: T0 });
        assert.deepEqual(await store.users.findByIdentity({ issuer: 'https://a.example', subject: 'sub-1' }), user);
        assert.equal(await store.users.findByIdentity({ issuer: 'https://b.example', subject: 'sub-1' }), null);
        assert.equal(await store.users.findByIdentity({ issuer: 'https://a.example', subject: 'sub-2' }), null);
      });

      it('an identity linked already is refused with IdentityTakenError, and no second user is made', async (store) => {
        const identity = { issuer: 'https://a.example', subject: 'sub-1', createdAt: T0 };
        await store.users.createWithIdentity(newUser(), identity);
        await assert.rejects(store.users.createWithIdentity(newUser(), identity), { name: 'IdentityTakenError' });
        assert.equal((await store.users.list()).length, 1);
      });

      it('createWithIdentity with a username in use makes neither the user nor the link', async (store) => {
        await store.users.create(newUser({ username: 'ada' }));
        await assert.rejects(store.users.createWithIdentity(newUser({ username: 'ada' }), { issuer: 'https://a.example', subject: 's', createdAt: T0 }), {
          name: 'UsernameTakenError',
        });
        assert.equal(await store.users.findByIdentity({ issuer: 'https://a.example', subject: 's' }), null);
      });

      it('updateProfile changes name, email and email_verified of a known user only; remove drops its identities', async (store) => {
        const user = newUser();
        await store.users.createWithIdentity(user, { issuer: 'https://a.example', subject: 's', createdAt: T0 });
        assert.equal(await store.users.updateProfile(user.id, { name: 'Ada L.', email: 'ada@new.example', emailVerified: false }), true);
        assert.deepEqual(await store.users.get(user.id), { ...user, name: 'Ada L.', email: 'ada@new.example', emailVerified: false });
        assert.equal(await store.users.updateProfile('nope', { name: null, email: null, emailVerified: false }), false);
        assert.equal(await store.users.remove(user.id), true);
        assert.equal(await store.users.findByIdentity({ issuer: 'https://a.example', subject: 's' }), null);
      });
    });

    describe('passkeys', () => {
      const passkey = (overrides: Partial<PasskeyRecord> = {}): Omit<PasskeyRecord, 'lastUsedAt'> => ({
        id: unique('credential'),
        userId: 'user-1',
        publicKey: 'pQECAyYgASFYIA',
        counter: 0,
        transports: ['internal', 'hybrid'],
        deviceType: 'multiDevice',
        backedUp: true,
        createdAt: T0,
        ...overrides,
      });

      it('create, get and listByUser (oldest first) round-trip every field; an id is registered once', async (store) => {
        const later = passkey({ createdAt: T0 + SECOND, transports: [], deviceType: 'singleDevice', backedUp: false, counter: 7 });
        const first = passkey();
        assert.equal(await store.passkeys.create(later), true);
        assert.equal(await store.passkeys.create(first), true);
        assert.equal(await store.passkeys.create({ ...first, userId: 'user-2' }), false);
        await store.passkeys.create(passkey({ userId: 'user-2' }));
        assert.deepEqual(await store.passkeys.get(first.id), { ...first, lastUsedAt: null });
        assert.deepEqual(await store.passkeys.listByUser('user-1'), [{ ...first, lastUsedAt: null }, { ...later, lastUsedAt: null }]);
        assert.equal(await store.passkeys.get('nope'), null);
      });

      it('recordUse takes a growing counter (or 0 after 0) and refuses one that does not grow', async (store) => {
        const counting = passkey({ counter: 5 });
        const zero = passkey();
        await store.passkeys.create(counting);
        await store.passkeys.create(zero);
        assert.equal(await store.passkeys.recordUse(counting.id, 6, T0 + SECOND), true);
        assert.equal(await store.passkeys.recordUse(counting.id, 6, T0 + 2 * SECOND), false);
        assert.equal(await store.passkeys.recordUse(counting.id, 3, T0 + 2 * SECOND), false);
        assert.deepEqual(await store.passkeys.get(counting.id), { ...counting, counter: 6, lastUsedAt: T0 + SECOND });
        assert.equal(await store.passkeys.recordUse(zero.id, 0, T0 + SECOND), true);
        assert.equal(await store.passkeys.recordUse('nope', 1, T0), false);
      });

      it('remove takes only the passkey of that user', async (store) => {
        const record = passkey();
        await store.passkeys.create(record);
        assert.equal(await store.passkeys.remove(record.id, 'user-2'), false);
        assert.equal(await store.passkeys.remove(record.id, 'user-1'), true);
        assert.equal(await store.passkeys.get(record.id), null);
        assert.equal(await store.passkeys.remove(record.id, 'user-1'), false);
      });
    });

    describe('signing keys', () => {
      it('replaceAll stores the set, listed oldest first, public JWKs intact', async (store) => {
        const next = newSigningKey({ state: 'next', createdAt: T0 + 2 * SECOND, activatedAt: null });
        const current = newSigningKey({ state: 'current', createdAt: T0 + SECOND });
        const retired = newSigningKey({ state: 'retired', createdAt: T0, retireAfter: T0 + 86_400 * SECOND });
        await store.signingKeys.replaceAll([next, current, retired]);
        assert.deepEqual(await store.signingKeys.list(), [retired, current, next]);
      });

      it('replaceAll replaces the whole set', async (store) => {
        await store.signingKeys.replaceAll([newSigningKey(), newSigningKey({ state: 'next' })]);
        const only = newSigningKey();
        await store.signingKeys.replaceAll([only]);
        assert.deepEqual(await store.signingKeys.list(), [only]);
        await store.signingKeys.replaceAll([]);
        assert.deepEqual(await store.signingKeys.list(), []);
      });

      it('a replaceAll that fails part way leaves the old set whole', async (store) => {
        const old = [newSigningKey({ createdAt: T0 }), newSigningKey({ state: 'next', createdAt: T0 + SECOND })];
        await store.signingKeys.replaceAll(old);
        const duplicate = newSigningKey();
        await assert.rejects(store.signingKeys.replaceAll([duplicate, { ...duplicate }]));
        assert.deepEqual(await store.signingKeys.list(), old);
      });
    });

    describe('sessions', () => {
      const session = (overrides: Partial<SessionRecord> = {}): SessionRecord => ({
        idHash: unique('session'),
        userId: 'user-1',
        createdAt: T0,
        expiresAt: T0 + 3600 * SECOND,
        authTime: T0 - SECOND,
        amr: ['fed', 'pwd'],
        acr: 'urn:example:loa:1',
        ...overrides,
      });

      it('a session is found until it expires', async (store) => {
        const record = session();
        await store.sessions.create(record);
        assert.deepEqual(await store.sessions.get(record.idHash, record.expiresAt - 1), record);
        assert.equal(await store.sessions.get(record.idHash, record.expiresAt), null);
        assert.equal(await store.sessions.get('nope', T0), null);
      });

      it('remove ends a session', async (store) => {
        const record = session();
        await store.sessions.create(record);
        await store.sessions.remove(record.idHash);
        assert.equal(await store.sessions.get(record.idHash, T0), null);
        await store.sessions.remove(record.idHash);
      });

      it('removeByUser ends every session of that account and no other', async (store) => {
        const first = session({ userId: 'user-a' });
        const second = session({ userId: 'user-a' });
        const other = session({ userId: 'user-b' });
        for (const record of [first, second, other]) await store.sessions.create(record);
        assert.equal(await store.sessions.removeByUser('user-a'), 2);
        assert.equal(await store.sessions.get(first.idHash, T0), null);
        assert.equal(await store.sessions.get(second.idHash, T0), null);
        assert.ok(await store.sessions.get(other.idHash, T0));
      });

      it('sweep deletes expired sessions only', async (store) => {
        const expired = session({ expiresAt: T0 + SECOND });
        const live = session();
        await store.sessions.create(expired);
        await store.sessions.create(live);
        assert.equal(await store.sessions.sweep(T0 + SECOND), 1);
        assert.equal(await store.sessions.sweep(T0 + SECOND), 0);
        assert.ok(await store.sessions.get(live.idHash, T0 + SECOND));
      });
    });

    describe('audit events', () => {
      const event = (at: number, name = 'tokens_issued') => ({
        at,
        event: name,
        fields: { clientId: 'tv', refresh: true, count: 3, userId: null },
      });

      it('list gives events oldest first, after a cursor and since an instant, up to the limit', async (store) => {
        for (let index = 0; index < 5; index++) await store.auditEvents.append(event(T0 + index * SECOND, `event-${index}`));
        const all = await store.auditEvents.list({ limit: 100 });
        assert.deepEqual(all.map((record) => record.event), ['event-0', 'event-1', 'event-2', 'event-3', 'event-4']);
        assert.deepEqual(all[0], { id: all[0]!.id, ...event(T0, 'event-0') });
        assert.ok(all.every((record, index) => index === 0 || record.id > all[index - 1]!.id));
        assert.deepEqual((await store.auditEvents.list({ afterId: all[1]!.id, limit: 2 })).map((record) => record.event), ['event-2', 'event-3']);
        assert.deepEqual((await store.auditEvents.list({ since: T0 + 3 * SECOND, limit: 100 })).map((record) => record.event), ['event-3', 'event-4']);
      });

      it('tail gives the newest events, oldest first', async (store) => {
        for (let index = 0; index < 5; index++) await store.auditEvents.append(event(T0 + index * SECOND, `event-${index}`));
        assert.deepEqual((await store.auditEvents.tail(2)).map((record) => record.event), ['event-3', 'event-4']);
        assert.equal((await store.auditEvents.tail(100)).length, 5);
      });
    });

    describe('replay identifiers', () => {
      it('a key is fresh once, a replay while remembered, and fresh again once expired', async (store) => {
        assert.equal(await store.replayIdentifiers.remember('jti-a', T0 + 60 * SECOND, T0), true);
        assert.equal(await store.replayIdentifiers.remember('jti-a', T0 + 120 * SECOND, T0 + SECOND), false);
        // The replay did not extend the record: it ends when first recorded.
        assert.equal(await store.replayIdentifiers.remember('jti-a', T0 + 180 * SECOND, T0 + 60 * SECOND), true);
      });

      it('of concurrent first uses exactly one is fresh', async (store) => {
        const results = await Promise.all(Array.from({ length: 10 }, () => store.replayIdentifiers.remember('jti-race', T0 + 60 * SECOND, T0)));
        assert.equal(results.filter(Boolean).length, 1);
      });

      it('sweep deletes expired records only', async (store) => {
        await store.replayIdentifiers.remember('jti-old', T0 + SECOND, T0);
        await store.replayIdentifiers.remember('jti-live', T0 + 60 * SECOND, T0);
        assert.equal(await store.replayIdentifiers.sweep(T0 + SECOND), 1);
        assert.equal(await store.replayIdentifiers.remember('jti-live', T0 + 120 * SECOND, T0 + SECOND), false);
      });
    });

    describe('webhooks', () => {
      const endpoint = (events: string[], overrides: Partial<WebhookEndpointRecord> = {}): WebhookEndpointRecord => ({
        id: unique('wh'),
        url: 'https://hooks.example/devicegate',
        sealedSecret: 'v1.sealed',
        events,
        createdAt: T0,
        ...overrides,
      });
      const event = (eventType: string, orderingKey: string, at = T0) => ({ eventType, orderingKey, payload: JSON.stringify({ type: eventType, key: orderingKey }), createdAt: at });

      it('endpoints read back field for field and are removed', async (store) => {
        const one = endpoint(['device.approved', 'device.denied']);
        await store.webhooks.addEndpoint(one);
        assert.deepEqual(await store.webhooks.listEndpoints(), [one]);
        assert.equal(await store.webhooks.removeEndpoint(one.id), true);
        assert.equal(await store.webhooks.removeEndpoint(one.id), false);
        assert.deepEqual(await store.webhooks.listEndpoints(), []);
      });

      it('an event is enqueued once for each endpoint subscribed to its type or to all, each with an id of its own', async (store) => {
        const approvals = endpoint(['device.approved']);
        const everything = endpoint(['*']);
        const other = endpoint(['client.blocked']);
        for (const one of [approvals, everything, other]) await store.webhooks.addEndpoint(one);
        assert.equal(await store.webhooks.enqueue(event('device.approved', 'dg-1')), 2);
        const claimed = await store.webhooks.claim(T0, 'instance-a', T0 + 60 * SECOND, 10);
        assert.deepEqual(claimed.map((delivery) => delivery.endpointId).sort(), [approvals.id, everything.id].sort());
        assert.notEqual(claimed[0]!.id, claimed[1]!.id);
        assert.match(claimed[0]!.id, /^msg_[0-9a-f]{32}$/);
        assert.deepEqual(
          { ...claimed[0]!, id: '', seq: 0, endpointId: '' },
          { id: '', seq: 0, endpointId: '', eventType: 'device.approved', orderingKey: 'dg-1', payload: event('device.approved', 'dg-1').payload, createdAt: T0, attempts: 1, nextAttemptAt: T0, leaseUntil: T0 + 60 * SECOND, leaseOwner: 'instance-a', deliveredAt: null, deadAt: null, lastError: null },
        );
        assert.equal(await store.webhooks.enqueue(event('tokens.issued', 'dg-1'), approvals.id), 0);
        assert.equal(await store.webhooks.enqueue(event('tokens.issued', 'dg-1'), everything.id), 1);
      });

      it('a claimed delivery is leased to one claimer until it settles or its lease ends', async (store) => {
        await store.webhooks.addEndpoint(endpoint(['*']));
        await store.webhooks.enqueue(event('device.approved', 'dg-1'));
        const [first] = await store.webhooks.claim(T0, 'a', T0 + 60 * SECOND, 10);
        assert.ok(first);
        assert.deepEqual(await store.webhooks.claim(T0 + SECOND, 'b', T0 + 61 * SECOND, 10), []);
        const [taken] = await store.webhooks.claim(T0 + 60 * SECOND, 'b', T0 + 120 * SECOND, 10);
        assert.equal(taken?.id, first.id);
        assert.equal(taken?.attempts, 2);
        // The first claimer lost its lease: its late answer changes nothing.
        assert.equal(await store.webhooks.markDelivered(first.id, 'a', T0 + 61 * SECOND), false);
        assert.equal(await store.webhooks.markDelivered(first.id, 'b', T0 + 61 * SECOND), true);
        assert.deepEqual(await store.webhooks.claim(T0 + 200 * SECOND, 'c', T0 + 300 * SECOND, 10), []);
      });

      it('of many claims at once each delivery goes to exactly one claimer', async (store) => {
        await store.webhooks.addEndpoint(endpoint(['*']));
        for (let index = 0; index < 20; index++) await store.webhooks.enqueue(event('device.approved', `dg-${index}`));
        const claims = await Promise.all(Array.from({ length: 8 }, (_, index) => store.webhooks.claim(T0, `claimer-${index}`, T0 + 60 * SECOND, 5)));
        const ids = claims.flat().map((delivery) => delivery.id);
        assert.equal(new Set(ids).size, ids.length);
        assert.equal(ids.length, 20);
      });

      it('deliveries of one ordering key go one at a time, in order; other keys are not held up', async (store) => {
        await store.webhooks.addEndpoint(endpoint(['*']));
        await store.webhooks.enqueue(event('device.approved', 'dg-1'));
        await store.webhooks.enqueue(event('tokens.issued', 'dg-1'));
        await store.webhooks.enqueue(event('device.denied', 'dg-2'));
        const first = await store.webhooks.claim(T0, 'a', T0 + 60 * SECOND, 10);
        assert.deepEqual(first.map((delivery) => delivery.eventType), ['device.approved', 'device.denied']);
        // A failed attempt keeps its place: the next of its key waits for its retry.
        assert.equal(await store.webhooks.markFailed(first[0]!.id, 'a', { error: 'HTTP 503', nextAttemptAt: T0 + 5 * SECOND, dead: false, now: T0 }), true);
        assert.deepEqual(await store.webhooks.claim(T0 + SECOND, 'a', T0 + 60 * SECOND, 10), []);
        const retried = await store.webhooks.claim(T0 + 5 * SECOND, 'a', T0 + 60 * SECOND, 10);
        assert.deepEqual(retried.map((delivery) => [delivery.eventType, delivery.attempts, delivery.lastError]), [['device.approved', 2, 'HTTP 503']]);
        await store.webhooks.markDelivered(retried[0]!.id, 'a', T0 + 5 * SECOND);
        const next = await store.webhooks.claim(T0 + 5 * SECOND, 'a', T0 + 60 * SECOND, 10);
        assert.deepEqual(next.map((delivery) => delivery.eventType), ['tokens.issued']);
      });

      it('a delivery that gives up is on the dead-letter list and no longer holds its key up', async (store) => {
        await store.webhooks.addEndpoint(endpoint(['*']));
        await store.webhooks.enqueue(event('device.approved', 'dg-1'));
        await store.webhooks.enqueue(event('tokens.issued', 'dg-1'));
        const [first] = await store.webhooks.claim(T0, 'a', T0 + 60 * SECOND, 10);
        await store.webhooks.markFailed(first!.id, 'a', { error: 'connection refused', nextAttemptAt: T0, dead: true, now: T0 + SECOND });
        const dead = await store.webhooks.listDeadLetters(10);
        assert.deepEqual(dead.map((delivery) => [delivery.id, delivery.deadAt, delivery.lastError]), [[first!.id, T0 + SECOND, 'connection refused']]);
        assert.deepEqual((await store.webhooks.claim(T0 + SECOND, 'a', T0 + 60 * SECOND, 10)).map((delivery) => delivery.eventType), ['tokens.issued']);
      });

      it('removing an endpoint removes its deliveries; sweep deletes delivered ones', async (store) => {
        const one = endpoint(['*']);
        const two = endpoint(['*']);
        await store.webhooks.addEndpoint(one);
        await store.webhooks.addEndpoint(two);
        await store.webhooks.enqueue(event('device.approved', 'dg-1'));
        await store.webhooks.removeEndpoint(one.id);
        const claimed = await store.webhooks.claim(T0, 'a', T0 + 60 * SECOND, 10);
        assert.deepEqual(claimed.map((delivery) => delivery.endpointId), [two.id]);
        await store.webhooks.markDelivered(claimed[0]!.id, 'a', T0);
        assert.equal(await store.webhooks.sweep(T0), 0);
        assert.equal(await store.webhooks.sweep(T0 + 1), 1);
      });
    });

    describe('the store itself', () => {
      it('ping answers true while the store is open', async (store) => {
        assert.equal(await store.ping(), true);
      });
    });
  });
}
