/**
 * When the session refreshes, decided without a network: the fetch given here fails the test if
 * it is ever called where no refresh is due, and records the call where one is.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { createSession, createTokenStore, DeviceClientError, type ProfileRecord } from '@devicegate/device-client';
import { tempDir } from './support/temp.ts';

const NOW = 1_900_000_000_000;

async function sessionWith(tokens: ProfileRecord['tokens'], savedAt: number) {
  const dir = tempDir();
  const store = createTokenStore({ dir: path.join(dir, 'state'), keyFile: path.join(dir, 'key'), env: {} });
  await store.save('default', { issuer: 'https://id.invalid', clientId: 'tv', tokens, savedAt });
  const requests: string[] = [];
  const session = createSession({
    store,
    now: () => NOW,
    fetch: async (input) => {
      requests.push(String(input));
      throw new TypeError('fetch failed');
    },
  });
  return { session, requests };
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
