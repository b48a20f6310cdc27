// Signing key rotation (docs/security.md KEYS-OVERLAP) with the real CLI against the running
// appliance's data directory: the next key is published before it signs, the old key stays
// published until its tokens have expired, and the running server picks the rotation up on its next
// key reload. The server's clock is a manual one, so "the next reload" is a clock step, not a
// sleep.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createManualClock } from '@devicegate/server';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { runCli } from '../cli/run-cli.ts';
import { addIntrospector, introspect, request, signInDevice } from './http.ts';

/** The key store re-reads the key set at most this often (keys/keystore.ts). */
const KEY_RELOAD_MS = 10_000;

const clock = createManualClock();
let dg: TestAppliance;
let introspector: { clientId: string; secret: string };
before(async () => {
  dg = await startTestAppliance({ deps: { clock } });
  introspector = await addIntrospector(dg);
});
after(() => dg.stop());

const publishedKids = async () => ((await request(dg.issuer, '/oauth/jwks')).body.keys as JWK[]).map((key) => key.kid!);
const kidOf = (jwt: string) => decodeProtectedHeader(jwt).kid!;
const verifyWithJwks = (jwt: string) =>
  jwtVerify(jwt, createRemoteJWKSet(new URL(`${dg.issuer}/oauth/jwks`)), { issuer: dg.issuer, currentDate: new Date(clock.now()) });

async function rotateWithCli(): Promise<void> {
  const result = await runCli(['keys', 'rotate', '--data-dir', dg.dataDir]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /current/);
  // The CLI stamps the rotation with the wall clock (retireAfter = its now + the longest lifetime);
  // the server's manual clock started when this file did, so on a slow machine it lags behind by
  // however long the tests so far took. Catch it up, so the steps below count from the rotation.
  if (Date.now() > clock.now()) clock.set(Date.now());
}

test('keys rotate makes the published next key the signer, keeps the old key published, and publishes a new next', async () => {
  const before = await signInDevice(dg);
  const oldKid = kidOf(before.tokens.access_token);
  assert.equal(kidOf(before.tokens.id_token!), oldKid);
  const kidsBefore = await publishedKids();
  assert.equal(kidsBefore.length, 2, 'current and next are published');
  assert.ok(kidsBefore.includes(oldKid));

  await rotateWithCli();
  clock.advance(KEY_RELOAD_MS + 1_000);

  const afterRotation = await signInDevice(dg);
  const newKid = kidOf(afterRotation.tokens.access_token);
  assert.notEqual(newKid, oldKid, 'new tokens are signed with another key');
  assert.equal(kidOf(afterRotation.tokens.id_token!), newKid);
  assert.ok(kidsBefore.includes(newKid), 'the new signing key was published before it signed');

  const kidsAfter = await publishedKids();
  assert.ok(kidsAfter.includes(oldKid), 'the retired key is still published');
  assert.ok(kidsAfter.includes(newKid));
  assert.equal(kidsAfter.length, 3, 'retired, current and a fresh next');

  // Tokens of both keys verify against the published set, and the old one is still active.
  await verifyWithJwks(before.tokens.access_token);
  await verifyWithJwks(before.tokens.id_token!);
  await verifyWithJwks(afterRotation.tokens.access_token);
  assert.equal((await introspect(dg, before.tokens.access_token, introspector)).body.active, true);
  assert.equal((await introspect(dg, afterRotation.tokens.access_token, introspector)).body.active, true);
});

test('keys list shows the states after a rotation', async () => {
  const result = await runCli(['keys', 'list', '--data-dir', dg.dataDir]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /retired/);
  assert.match(result.stdout, /current/);
  assert.match(result.stdout, /next/);
});

test('a retired key is dropped from the JWKS once every token it signed has expired', async () => {
  const signer = kidOf((await signInDevice(dg)).tokens.access_token);
  await rotateWithCli();
  clock.advance(KEY_RELOAD_MS + 1_000);
  assert.ok((await publishedKids()).includes(signer), 'still published right after the rotation');
  const { config } = dg.appliance.context;
  clock.advance(Math.max(config.accessTokenLifetime, config.idTokenLifetime) * 1000 + KEY_RELOAD_MS);
  const kidsLater = await publishedKids();
  assert.ok(!kidsLater.includes(signer), 'dropped after the longest token lifetime');
  assert.equal(kidsLater.length, 2, 'only current and next remain');
  assert.ok(kidsLater.includes(kidOf((await signInDevice(dg)).tokens.access_token)));
});
