// Refresh tokens (RFC 6749 §6, RFC 9700 §4.14.2, OIDC Core §11): issued only with
// offline_access, rotated on every use, reuse revokes the whole grant, scope only narrows.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { createManualClock } from '@devicegate/server';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { logLines as captureLogLines } from '../support/log-lines.ts';
import { addIntrospector, introspect, postForm, refresh, signInDevice } from './http.ts';

const clock = createManualClock();
const { sink: logSink, lines: logLines } = captureLogLines();

let dg: TestAppliance;
let introspector: { clientId: string; secret: string };
before(async () => {
  dg = await startTestAppliance({ deps: { clock, logger: pino({ level: 'info' }, logSink) } });
  introspector = await addIntrospector(dg);
  await dg.addClient({ clientId: 'refresh-other-tv' });
  // Allowed offline_access as a scope, but not the refresh_token grant.
  await dg.addClient({ clientId: 'refresh-no-grant-tv', grantTypes: ['urn:ietf:params:oauth:grant-type:device_code'] });
});
after(() => dg.stop());

const active = async (token: string) => (await introspect(dg, token, introspector)).body.active as boolean;

test('a refresh returns a new refresh token and the used one stops working', async () => {
  const { tokens } = await signInDevice(dg);
  const first = await refresh(dg, 'demo-tv', tokens.refresh_token!);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.headers.get('cache-control'), 'no-store');
  assert.ok(first.body.refresh_token);
  assert.notEqual(first.body.refresh_token, tokens.refresh_token);
  assert.ok(first.body.access_token);
  assert.ok(first.body.id_token, 'openid was granted, so the refresh response carries an ID token');
  // The successor works; the used token is refused.
  assert.equal((await refresh(dg, 'demo-tv', first.body.refresh_token)).status, 200);
  const used = await refresh(dg, 'demo-tv', tokens.refresh_token!);
  assert.equal(used.status, 400);
  assert.equal(used.body.error, 'invalid_grant');
});

test('reusing a rotated refresh token after the retry window is invalid_grant and revokes the whole grant', async () => {
  const { tokens } = await signInDevice(dg);
  const rotated = await refresh(dg, 'demo-tv', tokens.refresh_token!);
  assert.equal(rotated.status, 200);
  assert.equal(await active(rotated.body.access_token), true);
  // docs/security.md REFRESH-RETRY: refreshRetryWindow defaults to 60 s.
  clock.advance(60_000);

  const reuse = await refresh(dg, 'demo-tv', tokens.refresh_token!);
  assert.equal(reuse.status, 400);
  assert.equal(reuse.body.error, 'invalid_grant');

  // The successor, and every access token of the family, stop working at once.
  const successor = await refresh(dg, 'demo-tv', rotated.body.refresh_token);
  assert.equal(successor.body.error, 'invalid_grant');
  assert.equal(await active(rotated.body.access_token), false);
  assert.equal(await active(tokens.access_token), false);
  assert.equal(await active(rotated.body.refresh_token), false);
});

test('refresh token reuse is recorded as a security event without the token', async () => {
  const { tokens } = await signInDevice(dg);
  await refresh(dg, 'demo-tv', tokens.refresh_token!);
  clock.advance(60_000);
  logLines.length = 0;
  await refresh(dg, 'demo-tv', tokens.refresh_token!);
  const event = logLines.find((line) => line.event === 'refresh_token_reuse_detected');
  assert.ok(event, 'a refresh_token_reuse_detected audit line');
  assert.equal(event.audit, true);
  assert.ok(!JSON.stringify(logLines).includes(tokens.refresh_token!));
});

test('within the retry window the predecessor of an unused successor gets a new successor; the unused one is revoked and the family lives', async () => {
  const { tokens } = await signInDevice(dg);
  const lost = await refresh(dg, 'demo-tv', tokens.refresh_token!);
  assert.equal(lost.status, 200);
  clock.advance(5_000);
  // The device never saw `lost` and retries with the token it stored.
  const retry = await refresh(dg, 'demo-tv', tokens.refresh_token!);
  assert.equal(retry.status, 200, JSON.stringify(retry.body));
  assert.notEqual(retry.body.refresh_token, lost.body.refresh_token);
  assert.equal(await active(retry.body.refresh_token), true);
  assert.equal(await active(lost.body.refresh_token), false, 'the successor nobody received is revoked');
  assert.equal(await active(retry.body.access_token), true);
  const next = await refresh(dg, 'demo-tv', retry.body.refresh_token);
  assert.equal(next.status, 200, 'the family lives on');
});

test('within the retry window the predecessor is reuse once its successor has been used', async () => {
  const { tokens } = await signInDevice(dg);
  const rotated = await refresh(dg, 'demo-tv', tokens.refresh_token!);
  const next = await refresh(dg, 'demo-tv', rotated.body.refresh_token);
  assert.equal(next.status, 200);
  const reuse = await refresh(dg, 'demo-tv', tokens.refresh_token!);
  assert.equal(reuse.body.error, 'invalid_grant');
  assert.equal(await active(next.body.refresh_token), false, 'the family is revoked');
});

test('the window is counted from the first rotation: retries do not extend it', async () => {
  const { tokens } = await signInDevice(dg);
  await refresh(dg, 'demo-tv', tokens.refresh_token!);
  clock.advance(40_000);
  const retry = await refresh(dg, 'demo-tv', tokens.refresh_token!);
  assert.equal(retry.status, 200);
  clock.advance(20_000);
  const late = await refresh(dg, 'demo-tv', tokens.refresh_token!);
  assert.equal(late.body.error, 'invalid_grant');
  assert.equal(await active(retry.body.refresh_token), false, 'reuse after the window revokes the family');
});

test('a successor revoked by a retry is reuse when presented: the family is revoked', async () => {
  const { tokens } = await signInDevice(dg);
  const first = await refresh(dg, 'demo-tv', tokens.refresh_token!);
  const retry = await refresh(dg, 'demo-tv', tokens.refresh_token!);
  assert.equal(retry.status, 200);
  const stale = await refresh(dg, 'demo-tv', first.body.refresh_token);
  assert.equal(stale.body.error, 'invalid_grant');
  assert.equal(await active(retry.body.refresh_token), false);
});

test('a refresh may narrow the scope; the grant keeps its original scope', async () => {
  const { tokens } = await signInDevice(dg, { scope: 'openid profile email offline_access' });
  const narrowed = await refresh(dg, 'demo-tv', tokens.refresh_token!, { scope: 'openid offline_access' });
  assert.equal(narrowed.status, 200, JSON.stringify(narrowed.body));
  assert.equal(narrowed.body.scope, 'openid offline_access');
  assert.equal((await introspect(dg, narrowed.body.access_token, introspector)).body.scope, 'openid offline_access');
  // RFC 6749 §6: an omitted scope means the originally granted one.
  const full = await refresh(dg, 'demo-tv', narrowed.body.refresh_token);
  assert.equal(full.body.scope, 'openid profile email offline_access');
});

test('a refresh asking for more scope than was granted answers invalid_scope', async () => {
  const { tokens } = await signInDevice(dg, { scope: 'openid offline_access' });
  const widened = await refresh(dg, 'demo-tv', tokens.refresh_token!, { scope: 'openid offline_access email' });
  assert.equal(widened.status, 400);
  assert.equal(widened.body.error, 'invalid_scope');
  // A refused request does not use up the token.
  assert.equal((await refresh(dg, 'demo-tv', tokens.refresh_token!)).status, 200);
});

test('a refresh token is issued only when offline_access was granted', async () => {
  const { tokens } = await signInDevice(dg, { scope: 'openid profile' });
  assert.equal(tokens.refresh_token, undefined);
  const requestedButNotGranted = await signInDevice(dg, { scope: 'openid offline_access', grantedScopes: ['openid'] });
  assert.equal(requestedButNotGranted.tokens.refresh_token, undefined);
});

test('a client without the refresh_token grant gets no refresh token, even with offline_access', async () => {
  const { tokens } = await signInDevice(dg, { clientId: 'refresh-no-grant-tv', scope: 'openid offline_access' });
  assert.equal(tokens.refresh_token, undefined);
});

test("another client's refresh token answers invalid_grant and stays usable by its owner", async () => {
  const { tokens } = await signInDevice(dg);
  const stolen = await refresh(dg, 'refresh-other-tv', tokens.refresh_token!);
  assert.equal(stolen.status, 400);
  assert.equal(stolen.body.error, 'invalid_grant');
  assert.equal((await refresh(dg, 'demo-tv', tokens.refresh_token!)).status, 200);
});

test('an unknown refresh token answers invalid_grant', async () => {
  const result = await refresh(dg, 'demo-tv', 'not-a-refresh-token');
  assert.equal(result.status, 400);
  assert.equal(result.body.error, 'invalid_grant');
});

test('a refresh without refresh_token answers invalid_request', async () => {
  const result = await postForm(dg.issuer, '/oauth/token', { grant_type: 'refresh_token', client_id: 'demo-tv' });
  assert.equal(result.status, 400);
  assert.equal(result.body.error, 'invalid_request');
});

test('a refresh token revoked at the revocation endpoint answers invalid_grant', async () => {
  const { tokens } = await signInDevice(dg);
  const revoked = await postForm(dg.issuer, '/oauth/revoke', { client_id: 'demo-tv', token: tokens.refresh_token! });
  assert.equal(revoked.status, 200);
  assert.equal((await refresh(dg, 'demo-tv', tokens.refresh_token!)).body.error, 'invalid_grant');
  assert.equal(await active(tokens.access_token), false);
});

test('a refresh token unused for longer than its idle lifetime answers invalid_grant', async () => {
  const { tokens } = await signInDevice(dg);
  clock.advance(dg.appliance.context.config.refreshTokenLifetime * 1000 + 1000);
  const result = await refresh(dg, 'demo-tv', tokens.refresh_token!);
  assert.equal(result.status, 400);
  assert.equal(result.body.error, 'invalid_grant');
});
