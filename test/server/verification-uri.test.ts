// A short verification address (config verificationUri, docs/deploy.md#a-short-verification-address):
// given out as verification_uri and its _complete form, and its path redirects to the pages.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadConfig } from '@devicegate/server';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { freePort } from '../support/ports.ts';
import { deviceAuthorize } from './http.ts';

let dg: TestAppliance;
let shortAddress: string;
before(async () => {
  const port = await freePort();
  // Loopback stands in for the other host: "localhost" is not the issuer's 127.0.0.1.
  shortAddress = `http://localhost:${port}/tv`;
  dg = await startTestAppliance({ overrides: { port, verificationUri: shortAddress } });
});
after(() => dg.stop());

test('device authorization gives out the configured address as verification_uri, and with the code as _complete', async () => {
  const authorization = await deviceAuthorize(dg, { client_id: 'demo-tv' });
  assert.equal(authorization.verification_uri, shortAddress);
  assert.equal(authorization.verification_uri_complete, `${shortAddress}?user_code=${authorization.user_code}`);
});

test("the short address's path redirects to the verification pages, keeping the user code", async () => {
  const authorization = await deviceAuthorize(dg, { client_id: 'demo-tv' });
  const response = await fetch(authorization.verification_uri_complete, { redirect: 'manual' });
  assert.equal(response.status, 303);
  assert.equal(response.headers.get('location'), `${dg.issuer}/device?user_code=${encodeURIComponent(authorization.user_code)}`);
  const bare = await fetch(authorization.verification_uri, { redirect: 'manual' });
  assert.equal(bare.headers.get('location'), `${dg.issuer}/device`);
  const page = await fetch(authorization.verification_uri_complete);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<form/);
});

test('without the setting, verification_uri is the issuer plus the pages path', () => {
  assert.equal(loadConfig({ overrides: { issuer: 'https://id.example.com' } }).verificationUri, 'https://id.example.com/device');
});

test('a verificationUri over plain http off loopback, or with a query, is refused', () => {
  assert.throws(() => loadConfig({ overrides: { issuer: 'https://id.example.com', verificationUri: 'http://example.com/tv' } }), /verificationUri must be an https/);
  assert.throws(() => loadConfig({ overrides: { issuer: 'https://id.example.com', verificationUri: 'https://example.com/tv?x=1' } }), /must not have a query/);
});
