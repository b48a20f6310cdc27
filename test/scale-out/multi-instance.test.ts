// Scale out (docs/deploy.md), end to end: three appliance instances (A, B, C) on one real
// PostgreSQL and one real mosquitto with the shipped configuration (deploy/mosquitto), all serving
// one issuer (behind one name in production; here each is reached on its own loopback port). A
// device may start on one instance, its person approve on a second, and a third tell it; nothing is
// lost when an instance dies mid-flow; single use, rate limits and DPoP replay detection hold
// across them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { ConfigInput } from '@devicegate/server';
import { hashSecret } from '../../server/src/secrets.ts';
import { postForm } from '../server/http.ts';
import { makeProof, newDpopKey, tokenRequest, DEVICE_CODE_GRANT_TYPE } from '../dpop/support.ts';
import { connectMqtt, openWebSocket } from '../push/push-client.ts';
import { APPLIANCE_USERNAME, opensslAvailable, startShippedMosquitto, type ShippedMosquitto } from '../push/shipped-mosquitto.ts';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { mosquittoAvailable } from '../support/mosquitto.ts';
import { postgresAvailable, startPostgres, type Postgres } from '../support/postgres.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { reachConsent } from '../verification-ui/support.ts';
import {
  approveOnConsent,
  approveThroughPages,
  deviceAuthorizeAt,
  environmentFor,
  newMasterKey,
  personAt,
  pollAt,
  sharedIssuer,
  startAll,
  startChildInstance,
  type ChildInstance,
  type Instance,
} from './support.ts';
import { DEMO_PASSWORD } from '../support/appliance.ts';

const skip =
  skipWithoutRealPart('postgresql', postgresAvailable()) ||
  skipWithoutRealPart('mosquitto', mosquittoAvailable()) ||
  skipWithoutRealPart('openssl', opensslAvailable());

/** Tight enough to hit in a test, on an endpoint no other test here uses. */
const REVOCATION_LIMIT = 3;

const wsUrl = (instance: Instance) => `${instance.url.replace(/^http/, 'ws')}/push`;

describe('three instances on one PostgreSQL and one mosquitto', { skip }, () => {
  let postgres: Postgres;
  let mosquitto: ShippedMosquitto;
  let shared: ConfigInput;
  let a: TestAppliance, b: TestAppliance, c: TestAppliance;
  let A: Instance, B: Instance, C: Instance;
  const children: ChildInstance[] = [];

  before(async () => {
    // Three pools of up to 10 + 4 connections each, and two more instances as child processes.
    [postgres, mosquitto] = await Promise.all([startPostgres({ maxConnections: 150 }), startShippedMosquitto()]);
    const { issuer, port } = await sharedIssuer();
    shared = {
      databaseUrl: postgres.url,
      masterKey: newMasterKey(),
      issuer,
      limits: { revocationPerClientAndAddress: { points: REVOCATION_LIMIT, duration: 60 } },
      push: {
        bus: 'mqtt',
        mqttUrl: mosquitto.applianceUrl,
        mqttUsername: APPLIANCE_USERNAME,
        mqttPassword: mosquitto.appliancePassword,
        mqttPublicUrl: mosquitto.deviceUrl,
      },
    };
    // All three start at once on the empty database: one of them bootstraps keys and the demo
    // account under the store's lock, the others find them.
    [a, b, c] = (await startAll([
      startTestAppliance({ overrides: { ...shared, port } }),
      startTestAppliance({ overrides: shared }),
      startTestAppliance({ overrides: shared }),
    ])) as [TestAppliance, TestAppliance, TestAppliance];
    A = { name: 'A', url: a.appliance.url };
    B = { name: 'B', url: b.appliance.url };
    C = { name: 'C', url: c.appliance.url };
  });

  after(async () => {
    for (const child of children) await child.kill();
    await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
    await mosquitto?.stop();
    await postgres?.stop();
  });

  test('every instance serves the one issuer and publishes the same keys, each on its own port', async () => {
    assert.equal(A.url, shared.issuer);
    assert.notEqual(B.url, A.url);
    assert.notEqual(C.url, A.url);
    const jwks = [];
    for (const instance of [A, B, C]) {
      const metadata = await (await fetch(`${instance.url}/.well-known/openid-configuration`)).json();
      assert.equal(metadata.issuer, shared.issuer, `discovery on ${instance.name}`);
      assert.equal(metadata.token_endpoint, `${shared.issuer}/oauth/token`);
      jwks.push(await (await fetch(`${instance.url}/oauth/jwks`)).json());
    }
    assert.ok(jwks[0].keys.length >= 2, 'current and next key published');
    assert.deepEqual(jwks[1], jwks[0]);
    assert.deepEqual(jwks[2], jwks[0]);
    // Started at once, they bootstrapped one demo user, not three (or a failure).
    assert.equal((await a.appliance.context.store.users.list()).filter((user) => user.username === 'demo').length, 1);
  });

  test('authorized on A, approved on the pages of B, told on a WebSocket at C and over MQTT, redeemed on A', async () => {
    const authorization = await deviceAuthorizeAt(A);
    assert.equal(authorization.verification_uri, `${shared.issuer}/device`);
    const onC = await openWebSocket(wsUrl(C), { deviceCode: authorization.device_code });
    await onC.next('pending');
    const topic = authorization.push.mqtt!.topic;
    const device = await connectMqtt(authorization.push.mqtt!.url, {
      username: authorization.push.mqtt!.username,
      password: authorization.device_code,
      ca: mosquitto.ca,
    });
    try {
      await device.subscribe(topic);

      await approveThroughPages(personAt(B), authorization.user_code);
      await onC.next('approved');
      await device.next(topic, 'approved');

      const redeemed = await pollAt(A, authorization.device_code);
      assert.equal(redeemed.status, 200, JSON.stringify(redeemed.body));
      // Signed on A with the shared key: C's JWKS verifies it, for the one issuer.
      const keysOfC = createLocalJWKSet(await (await fetch(`${C.url}/oauth/jwks`)).json());
      const { payload } = await jwtVerify(redeemed.body.id_token, keysOfC, { issuer: shared.issuer, audience: 'demo-tv' });
      assert.equal(payload.sub, a.demoUserId);

      // Redemption on A clears the retained outcome B published; B alone published it.
      await device.nextRaw(topic, (payload) => payload === '');
      const approvals = device.received.filter((message) => message.topic === topic && message.payload === JSON.stringify({ type: 'approved' }));
      assert.equal(approvals.length, 1);
    } finally {
      await device.end();
      onC.socket.close();
    }
  });

  test('50 concurrent polls of one approved code spread over the three instances create exactly one token family', async () => {
    const authorization = await deviceAuthorizeAt(B);
    assert.equal(await c.appliance.context.approval.approveUserCode(authorization.user_code, c.demoUserId), true);
    const familiesBefore = (await a.appliance.context.store.grants.listByUser(a.demoUserId)).length;
    const instances = [A, B, C];
    const results = await Promise.all(Array.from({ length: 50 }, (_, index) => pollAt(instances[index % 3]!, authorization.device_code)));
    // Polls after the first redemption are the same client's retries (docs/security.md
    // REDEEM-RETRY): each gets a fresh set of the one family and revokes the set before it.
    const winners = results.filter((result) => result.status === 200);
    assert.ok(winners.length >= 1, `statuses: ${results.map((result) => result.status).join(' ')}`);
    for (const result of results.filter((result) => result.status !== 200)) {
      assert.equal(result.status, 400);
      assert.equal(result.body.error, 'invalid_grant');
    }
    // One token family came of the code, whichever instance won, with one live refresh token.
    assert.equal((await a.appliance.context.store.grants.listByUser(a.demoUserId)).length, familiesBefore + 1);
    const { store } = a.appliance.context;
    const refreshTokens = await Promise.all(winners.map((result) => store.refreshTokens.find(hashSecret(result.body.refresh_token))));
    assert.equal(new Set(refreshTokens.map((token) => token?.grantId)).size, 1);
    assert.equal(refreshTokens.filter((token) => token?.revokedAt === null).length, 1, 'one live refresh token');
  });

  test('an instance killed mid-flow loses nothing: the person finishes on B, C tells the device, A redeems', async () => {
    const k = await startChildInstance('K', environmentFor({ ...shared, demoPassword: DEMO_PASSWORD }));
    children.push(k);
    const authorization = await deviceAuthorizeAt(k);
    const person = personAt(k);
    // The person has entered the code and signed in on K; the consent page is in front of them.
    await reachConsent(person, authorization.user_code, { username: 'demo', password: DEMO_PASSWORD });

    await k.kill(); // SIGKILL: no draining
    assert.match(k.daemon.exitStatus() ?? '', /SIGKILL/);

    const onC = await openWebSocket(wsUrl(C), { deviceCode: authorization.device_code });
    await onC.next('pending');
    // The same browser, routed to B by the proxy: its session and flow live in the shared store.
    const onB = person.moveTo(B);
    const consent = await onB.request('/device/consent');
    assert.equal(consent.status, 200, 'B shows the consent page of the flow begun on K');
    await approveOnConsent(onB, consent.text);
    await onC.next('approved');
    onC.socket.close();

    const redeemed = await pollAt(A, authorization.device_code);
    assert.equal(redeemed.status, 200, JSON.stringify(redeemed.body));
  });

  test('an approval made just before its instance is killed is kept, told, and redeemed elsewhere', async () => {
    const k = await startChildInstance('K2', environmentFor({ ...shared, demoPassword: DEMO_PASSWORD }));
    children.push(k);
    const authorization = await deviceAuthorizeAt(A);
    await approveThroughPages(personAt(k), authorization.user_code);
    await k.kill();

    const grant = await b.appliance.context.store.deviceGrants.findLiveByUserCode(authorization.user_code.replace('-', ''), Date.now());
    assert.equal(grant?.status, 'approved', 'the approval was committed before K answered');
    // A device that connects now, to B, is told at once from the store.
    const onB = await openWebSocket(wsUrl(B), { deviceCode: authorization.device_code });
    await onB.next('approved');
    onB.socket.close();
    const redeemed = await pollAt(C, authorization.device_code);
    assert.equal(redeemed.status, 200, JSON.stringify(redeemed.body));
  });

  test('a rate limit spent on A counts on B and C', async () => {
    const revoke = (instance: Instance) => postForm(instance.url, '/oauth/revoke', { client_id: 'demo-tv', token: 'not-a-token' });
    // One request on each instance: 3 of the shared 3 points. Separate counters would allow 9.
    for (const instance of [A, B, C]) assert.equal((await revoke(instance)).status, 200, `revocation on ${instance.name}`);
    for (const instance of [B, C, A]) {
      const refused = await revoke(instance);
      assert.equal(refused.status, 429, `the fourth revocation, on ${instance.name}`);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    }
  });

  test('a DPoP proof accepted on A is refused on B as a replay', async () => {
    const authorization = await deviceAuthorizeAt(A);
    const key = await newDpopKey();
    const htu = `${shared.issuer}/oauth/token`;
    const parameters = { grant_type: DEVICE_CODE_GRANT_TYPE, client_id: 'demo-tv', device_code: authorization.device_code };
    // RFC 9449 §8: the first proof is answered with a nonce, which every instance shares.
    const challenge = await tokenRequest(A.url, parameters, await makeProof(key, { htu }));
    assert.equal(challenge.body.error, 'use_dpop_nonce');
    const nonce = challenge.headers.get('dpop-nonce')!;

    const proof = await makeProof(key, { htu, nonce });
    const onA = await tokenRequest(A.url, parameters, proof);
    assert.equal(onA.body.error, 'authorization_pending', 'A accepted the proof');
    const replayed = await tokenRequest(B.url, parameters, proof);
    assert.equal(replayed.status, 400);
    assert.equal(replayed.body.error, 'invalid_dpop_proof');
    // A fresh proof is fine on B (for another device, which has not polled yet): the refusal
    // was the replay, not B.
    const other = await deviceAuthorizeAt(B);
    const fresh = await tokenRequest(B.url, { ...parameters, device_code: other.device_code }, await makeProof(key, { htu, nonce }));
    assert.equal(fresh.body.error, 'authorization_pending');
  });
});
