// The appliance's own protected resource, userinfo, with DPoP-bound tokens (RFC 9449 §7):
// `Authorization: DPoP <token>` plus a proof carrying ath; a bound token never works as Bearer.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { approvedDeviceCode, DEVICE_CODE_GRANT_TYPE, discover, insecure, makeProof, newDpopKey, redeemWithDpop, tokenRequest, type DpopKey } from './support.ts';

let dg: TestAppliance;
let as: oauth.AuthorizationServer;
let userinfoUrl: string;
const client: oauth.Client = { client_id: 'demo-tv', id_token_signed_response_alg: 'ES256' };
const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

before(async () => {
  dg = await startTestAppliance({ modules: 'none' });
  as = await discover(dg.issuer);
  userinfoUrl = `${dg.issuer}/oauth/userinfo`;
});
after(() => dg.stop());

async function boundTokens(): Promise<{ key: DpopKey; dpop: oauth.DPoPHandle; accessToken: string }> {
  const key = await newDpopKey();
  const dpop = oauth.DPoP(client, key.keyPair);
  const tokens = await redeemWithDpop(as, client, await approvedDeviceCode(dg), dpop);
  return { key, dpop, accessToken: tokens.access_token };
}

async function userinfo(headers: Record<string, string>) {
  const response = await fetch(userinfoUrl, { headers });
  return { status: response.status, challenge: response.headers.get('www-authenticate') ?? '', body: (await response.json()) as Record<string, unknown> };
}

test('userinfo answers a DPoP-bound token sent with its proof (oauth4webapi)', async () => {
  const { dpop, accessToken } = await boundTokens();
  const response = await oauth.userInfoRequest(as, client, accessToken, { DPoP: dpop, ...insecure });
  const claims = await oauth.processUserInfoResponse(as, client, dg.demoUserId, response);
  assert.equal(claims.sub, dg.demoUserId);
  assert.equal(claims.preferred_username, 'demo');
});

test('userinfo refuses a DPoP-bound token sent as Bearer, with a DPoP challenge', async () => {
  const { accessToken } = await boundTokens();
  const result = await userinfo({ authorization: `Bearer ${accessToken}` });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_token');
  assert.match(result.challenge, /^DPoP error="invalid_token"/);
});

test('userinfo refuses a DPoP-bound token whose proof hashes another token (ath)', async () => {
  const { key, accessToken } = await boundTokens();
  const proof = await makeProof(key, { htm: 'GET', htu: userinfoUrl, ath: ath('some other token') });
  const result = await userinfo({ authorization: `DPoP ${accessToken}`, dpop: proof });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_dpop_proof');
});

test('userinfo refuses a proof made by another key than the token is bound to', async () => {
  const { accessToken } = await boundTokens();
  const thief = await newDpopKey();
  const proof = await makeProof(thief, { htm: 'GET', htu: userinfoUrl, ath: ath(accessToken) });
  const result = await userinfo({ authorization: `DPoP ${accessToken}`, dpop: proof });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_token');
});

test('userinfo refuses a DPoP-bound token without a proof', async () => {
  const { accessToken } = await boundTokens();
  const result = await userinfo({ authorization: `DPoP ${accessToken}` });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_dpop_proof');
});

test('userinfo refuses an unbound token sent with the DPoP scheme', async () => {
  const deviceCode = await approvedDeviceCode(dg);
  const { body } = await tokenRequest(dg.issuer, { client_id: 'demo-tv', grant_type: DEVICE_CODE_GRANT_TYPE, device_code: deviceCode });
  const result = await userinfo({ authorization: `DPoP ${body.access_token as string}` });
  assert.equal(result.status, 401);
  assert.equal(result.body.error, 'invalid_token');
});
