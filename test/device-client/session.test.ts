/**
 * When the session refreshes, decided without a network: the fetch given here fails the test if
 * it is ever called where no refresh is due, and records the call where one is.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { createSession, createTokenStore, DeviceClientError, generateDpopKey, type ProfileRecord } from '@devicegate/device-client';
import { tempDir } from './support/temp.ts';

const NOW = 1_900_000_000_000;

async function sessionWith(tokens: ProfileRecord['tokens'], savedAt: number, extra: Partial<ProfileRecord> = {}) {
  const dir = tempDir();
  const store = createTokenStore({ dir: path.join(dir, 'state'), keyFile: path.join(dir, 'key'), env: {} });
  await store.save('default', { issuer: 'https://id.invalid', clientId: 'tv', tokens, savedAt, ...extra });
  const requests: string[] = [];
  const session = createSession({
    store,
    now: () => NOW,
    fetch: async (input) => {
      requests.push(String(input));
      throw new TypeError('fetch failed');
    },
  });
  return { session, requests, store };
}

test('a token well within its lifetime is handed out without asking the appliance', async () => {
  const { session, requests } = await sessionWith({ accessToken: 'at', expiresAt: NOW + 300_000, refreshToken: 'rt' }, NOW - 300_000);
  assert.equal(await session.getAccessToken(), 'at');
  assert.deepEqual(requests, []);
});

test('a token within the skew (60 s) of expiry is refreshed', async () => {
  const { session, requests } = await sessionWith({ accessToken: 'at', expiresAt: NOW + 30_000, refreshToken: 'rt' }, NOW - 570_000);
  const error = await session.getAccessToken().catch((caught: unknown) => caught as DeviceClientError);
  assert.equal((error as DeviceClientError).code, 'network');
  assert.equal(requests.length, 1, 'one discovery request, then the failure');
});

test('a short-lived token (30 s) is used for half its life, not refreshed on every call', async () => {
  const { session, requests } = await sessionWith({ accessToken: 'at', expiresAt: NOW + 20_000, refreshToken: 'rt' }, NOW - 10_000);
  assert.equal(await session.getAccessToken(), 'at');
  assert.deepEqual(requests, []);
});

test('an expired token without a refresh token means logging in again', async () => {
  const { session } = await sessionWith({ accessToken: 'at', expiresAt: NOW - 1 }, NOW - 600_000);
  const error = await session.getAccessToken().catch((caught: unknown) => caught as DeviceClientError);
  assert.equal((error as DeviceClientError).code, 'not_logged_in');
});

test('status never shows a token', async () => {
  const { session } = await sessionWith({ accessToken: 'at-secret', refreshToken: 'rt-secret', idToken: 'id-secret', expiresAt: NOW + 1000 }, NOW);
  const status = JSON.stringify(await session.status());
  assert.doesNotMatch(status, /secret/);
  assert.match(status, /"loggedIn":true/);
});

test('a profile holding only its DPoP key (a login that never finished) is not signed in', async () => {
  const key = generateDpopKey();
  const { session, requests, store } = await sessionWith({}, NOW, { dpop: { privateJwk: key.exportPrivateJwk() } });
  assert.equal((await session.status()).loggedIn, false);
  const error = await session.getAccessToken().catch((caught: unknown) => caught as DeviceClientError);
  assert.equal((error as DeviceClientError).code, 'not_logged_in');
  assert.deepEqual(await session.logout(), { wasLoggedIn: false, revoked: false });
  assert.equal(await store.load('default'), null, 'the orphaned key is deleted');
  assert.deepEqual(requests, []);
});

test('DPoP-bound tokens without their key cannot be refreshed: log in again', async () => {
  const { session, requests } = await sessionWith({ accessToken: 'at', tokenType: 'DPoP', expiresAt: NOW - 1, refreshToken: 'rt' }, NOW - 600_000);
  const error = await session.getAccessToken().catch((caught: unknown) => caught as DeviceClientError);
  assert.equal((error as DeviceClientError).code, 'not_logged_in');
  assert.match((error as DeviceClientError).message, /no DPoP key/);
  assert.deepEqual(requests, [], 'a refresh without the key is not even tried');
});

test('a DPoP proof for Bearer tokens is refused as needless', async () => {
  const { session } = await sessionWith({ accessToken: 'at', tokenType: 'Bearer', expiresAt: NOW + 300_000 }, NOW);
  const error = await session.createDpopProof({ method: 'GET', url: 'https://api.invalid/' }).catch((caught: unknown) => caught as DeviceClientError);
  assert.equal((error as DeviceClientError).code, 'usage');
});

test('status never shows the DPoP private key', async () => {
  const key = generateDpopKey();
  const { session } = await sessionWith({ accessToken: 'at', tokenType: 'DPoP', expiresAt: NOW + 300_000 }, NOW, {
    dpop: { privateJwk: key.exportPrivateJwk(), thumbprint: key.thumbprint },
  });
  const status = await session.status();
  assert.equal(status.dpopThumbprint, key.thumbprint);
  assert.ok(!JSON.stringify(status).includes(key.exportPrivateJwk().d!));
});
