import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSealer, parseMasterKey } from '../../server/src/keys/sealing.ts';
import { newWebhookSecret } from '../../server/src/webhooks/dispatcher.ts';
import { deviceAuthorizeAt, newMasterKey, pollAt, startAll } from '../scale-out/support.ts';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { postgresAvailable, startPostgres, type Postgres } from '../support/postgres.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { until } from '../support/until.ts';
import { startReceiver, typesByGrant, type Receiver } from './receiver.ts';

const SIGN_INS = 6;

describe('webhooks from two instances on PostgreSQL', { skip: skipWithoutRealPart('postgresql', postgresAvailable()) }, () => {
  let postgres: Postgres;
  let receiver: Receiver;
  let a: TestAppliance;
  let b: TestAppliance;

  before(async () => {
    postgres = await startPostgres();
    receiver = await startReceiver();
    const masterKey = newMasterKey();
    const shared = { databaseUrl: postgres.url, masterKey, webhooks: { pollInterval: 20, retryDelay: 20, retryMaxDelay: 100, lease: 30 } };
    [a, b] = (await startAll([startTestAppliance({ overrides: shared }), startTestAppliance({ overrides: shared })])) as [TestAppliance, TestAppliance];
    const secret = newWebhookSecret();
    receiver.setSecret(secret);
    await a.appliance.context.store.webhooks.addEndpoint({
      id: 'wh_shared',
      url: receiver.url,
      sealedSecret: createSealer(parseMasterKey(masterKey)).seal(secret),
      events: ['*'],
      createdAt: Date.now(),
    });
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await receiver?.close();
    await postgres?.stop();
  });

  test('each event is delivered once however many instances poll the outbox, in order per grant', async () => {
    const instances = [
      { name: 'A', url: a.appliance.url, dg: a },
      { name: 'B', url: b.appliance.url, dg: b },
    ];
    // Each sign-in starts on one instance, is approved on the other and redeemed on the first:
    // both instances enqueue events of the same grant, and both poll the outbox all along.
    await Promise.all(
      Array.from({ length: SIGN_INS }, async (_, index) => {
        const here = instances[index % 2]!;
        const there = instances[(index + 1) % 2]!;
        const authorization = await deviceAuthorizeAt(here);
        assert.ok(await there.dg.appliance.context.approval.approveUserCode(authorization.user_code, a.demoUserId));
        assert.equal((await pollAt(here, authorization.device_code)).status, 200);
      }),
    );
    await until(() => receiver.processed.length >= 2 * SIGN_INS, 30_000, 'every event');
    // Both instances keep polling a while: nothing is sent twice.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(receiver.badSignatures, 0);
    assert.equal(receiver.processed.length, 2 * SIGN_INS);
    assert.equal(receiver.requests, 2 * SIGN_INS, 'a delivery sent twice');
    for (const types of typesByGrant(receiver.processed).values()) assert.deepEqual(types, ['device.approved', 'tokens.issued']);
  });
});
