// Cross-device phishing controls per client (RFC 10027 §6; docs/security.md "Cross-device
// phishing controls"), set with the real `devicegate clients add/update` and `devices enroll`
// beside the running appliance, driven over HTTP as a device and a person's browser do.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEMO_PASSWORD, startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { runCli } from '../cli/run-cli.ts';
import { makeProof, newDpopKey, tokenRequest, DEVICE_CODE_GRANT_TYPE } from '../dpop/support.ts';
import { createPageSession, csrfOf, EN, message, reachConsent, requestIdOf } from '../verification-ui/support.ts';

let dg: TestAppliance;
before(async () => {
  dg = await startTestAppliance({ overrides: { trustProxy: true, limits: { deviceAuthorizationPerClientAndAddress: { points: 1000, duration: 60 } } } });
});
after(() => dg.stop());

const demo = { username: 'demo', password: DEMO_PASSWORD };
const cli = (args: string[]) => runCli([...args, '--data-dir', dg.dataDir]);

async function clientWith(clientId: string, flags: string[]): Promise<void> {
  const added = await cli(['clients', 'add', clientId, ...flags]);
  assert.equal(added.code, 0, added.stderr);
}

async function deviceAuthorization(clientId: string, from: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) {
  const response = await fetch(`${dg.issuer}/oauth/device_authorization`, {
    method: 'POST',
    headers: { 'x-forwarded-for': from, ...headers },
    body: new URLSearchParams({ client_id: clientId, scope: 'openid profile', ...extra }),
  });
  return { status: response.status, nonce: response.headers.get('dpop-nonce'), body: (await response.json()) as Record<string, string> };
}

const poll = (clientId: string, deviceCode: string) =>
  tokenRequest(dg.issuer, { client_id: clientId, grant_type: DEVICE_CODE_GRANT_TYPE, device_code: deviceCode });

describe('allowed networks for device authorization', () => {
  test('a device outside the allowed networks gets no code; one inside does', async () => {
    await clientWith('lobby-tv', ['--allowed-networks', '203.0.113.0/24,2001:db8:77::/48']);
    const outside = await deviceAuthorization('lobby-tv', '198.51.100.9');
    assert.equal(outside.status, 403);
    assert.equal(outside.body.error, 'access_denied');
    assert.equal(outside.body.user_code, undefined);
    assert.equal((await deviceAuthorization('lobby-tv', '203.0.113.5')).status, 200);
    assert.equal((await deviceAuthorization('lobby-tv', '2001:db8:77:1::5')).status, 200);
  });

  test('clients update changes the list on a running appliance, and "none" clears it', async () => {
    await clientWith('moved-tv', []);
    assert.equal((await deviceAuthorization('moved-tv', '198.51.100.10')).status, 200);
    assert.equal((await cli(['clients', 'update', 'moved-tv', '--allowed-networks', '192.0.2.0/24'])).code, 0);
    assert.equal((await deviceAuthorization('moved-tv', '198.51.100.10')).status, 403);
    assert.equal((await cli(['clients', 'update', 'moved-tv', '--allowed-networks', 'none'])).code, 0);
    assert.equal((await deviceAuthorization('moved-tv', '198.51.100.10')).status, 200);
  });

  test('a malformed network is refused by the CLI with one line', async () => {
    const result = await cli(['clients', 'add', 'bad-net-tv', '--allowed-networks', '203.0.113.0/33']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /not a CIDR block/);
  });
});

describe('same network required at approval', () => {
  const refusedTitle = message(EN, 'consent.refusedTitle');

  test('another network is refused with a page; the device keeps waiting, and gets access_denied only once the person denies', async () => {
    await clientWith('home-tv', ['--same-network-required']);
    const device = await deviceAuthorization('home-tv', '203.0.113.40');
    const person = createPageSession(dg.issuer, { 'x-forwarded-for': '198.51.100.40' });
    const consent = await reachConsent(person, device.body.user_code!, demo);
    assert.match(consent.text, new RegExp(refusedTitle));
    assert.doesNotMatch(consent.text, /value="approve"/, 'no Approve button');
    const requestId = requestIdOf(consent.text);
    const approve = await person.request('/device/consent', { form: { csrf: csrfOf(consent.text), request: requestId, decision: 'approve' } });
    assert.equal(approve.status, 403);
    assert.match(approve.text, new RegExp(refusedTitle));
    assert.equal((await dg.appliance.context.store.deviceGrants.findById(requestId))?.status, 'pending');
    assert.equal((await poll('home-tv', device.body.device_code!)).body.error, 'authorization_pending');

    const deny = await person.request('/device/consent', { form: { csrf: csrfOf(consent.text), request: requestId, decision: 'deny' } });
    assert.equal(deny.status, 303);
    assert.equal((await poll('home-tv', device.body.device_code!)).body.error, 'access_denied');
  });

  test('on the same network the person approves as usual', async () => {
    const device = await deviceAuthorization('home-tv', '203.0.113.41');
    const person = createPageSession(dg.issuer, { 'x-forwarded-for': '203.0.113.99' });
    const consent = await reachConsent(person, device.body.user_code!, demo);
    assert.doesNotMatch(consent.text, new RegExp(refusedTitle));
    const approve = await person.request('/device/consent', { form: { csrf: csrfOf(consent.text), request: requestIdOf(consent.text), decision: 'approve' } });
    assert.equal(approve.status, 303);
    assert.equal((await poll('home-tv', device.body.device_code!)).status, 200);
  });
});

describe('registered devices only', () => {
  const tokenUrlOf = () => `${dg.issuer}/oauth/device_authorization`;

  test('an unregistered device is refused, with or without a proof; an enrolled one gets a code and signs in', async () => {
    await clientWith('kiosk', ['--registered-devices-only']);
    const enrolledKey = await newDpopKey();
    const strangerKey = await newDpopKey();

    const bare = await deviceAuthorization('kiosk', '203.0.113.60');
    assert.equal(bare.status, 400);
    assert.equal(bare.body.error, 'unauthorized_client');
    const nonce = dg.appliance.context.dpop.nonce();
    const stranger = await deviceAuthorization('kiosk', '203.0.113.60', {}, { dpop: await makeProof(strangerKey, { htu: tokenUrlOf(), nonce }) });
    assert.equal(stranger.status, 400);
    assert.equal(stranger.body.error, 'unauthorized_client');

    const jwkFile = path.join(dg.dataDir, 'kiosk-key.json');
    writeFileSync(jwkFile, JSON.stringify(enrolledKey.publicJwk));
    const enrolled = await cli(['devices', 'enroll', 'kiosk', '--jwk-file', jwkFile, '--name', 'Kiosk 3, lobby']);
    assert.equal(enrolled.code, 0, enrolled.stderr);
    const listed = JSON.parse((await cli(['devices', 'list', '--client', 'kiosk', '--json'])).stdout) as Array<{ id: string; jkt: string }>;
    assert.deepEqual(listed.map((device) => device.jkt), [enrolledKey.jkt]);

    const device = await deviceAuthorization('kiosk', '203.0.113.60', {}, { dpop: await makeProof(enrolledKey, { htu: tokenUrlOf(), nonce: dg.appliance.context.dpop.nonce() }) });
    assert.equal(device.status, 200, JSON.stringify(device.body));
    assert.equal(await dg.appliance.context.approval.approveUserCode(device.body.user_code!, dg.demoUserId), true);
    const tokens = await tokenRequest(
      dg.issuer,
      { client_id: 'kiosk', grant_type: DEVICE_CODE_GRANT_TYPE, device_code: device.body.device_code! },
      await makeProof(enrolledKey, { htu: `${dg.issuer}/oauth/token`, nonce: dg.appliance.context.dpop.nonce() }),
    );
    assert.equal(tokens.status, 200);

    // Removed, the device gets no new code.
    assert.equal((await cli(['devices', 'remove', listed[0]!.id])).code, 0);
    const removed = await deviceAuthorization('kiosk', '203.0.113.60', {}, { dpop: await makeProof(enrolledKey, { htu: tokenUrlOf(), nonce: dg.appliance.context.dpop.nonce() }) });
    assert.equal(removed.status, 400);
  });

  test('enroll refuses a private key', async () => {
    const key = await newDpopKey();
    const { exportJWK } = await import('jose');
    const jwkFile = path.join(dg.dataDir, 'private-key.json');
    writeFileSync(jwkFile, JSON.stringify(await exportJWK(key.keyPair.privateKey)));
    const result = await cli(['devices', 'enroll', 'kiosk', '--jwk-file', jwkFile]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /private key/);
  });
});

describe('device names that read like instructions', () => {
  const lure = 'Microsoft support: enter this code';

  test('are shown neutralised on the consent page by default', async () => {
    const device = await deviceAuthorization('demo-tv', '203.0.113.80', { device_name: lure });
    assert.equal(device.status, 200);
    const consent = await reachConsent(createPageSession(dg.issuer, { 'x-forwarded-for': '203.0.113.81' }), device.body.user_code!, demo);
    assert.doesNotMatch(consent.text, /Microsoft support/);
    assert.match(consent.text, new RegExp(message(EN, 'consent.nameWithheld')));
  });

  test('are refused at device authorization with --device-names refuse; a plain name still passes', async () => {
    await clientWith('strict-tv', ['--device-names', 'refuse']);
    for (const name of [lure, 'Call +1 800 555 0100 now', 'Visit evil.example.com']) {
      const refused = await deviceAuthorization('strict-tv', '203.0.113.82', { device_name: name });
      assert.equal(refused.status, 400, name);
      assert.equal(refused.body.error, 'invalid_request');
    }
    assert.equal((await deviceAuthorization('strict-tv', '203.0.113.82', { device_name: 'Living room TV' })).status, 200);
  });
});

describe('denied user-code prefixes', () => {
  test('no code handed out starts with a denied prefix', async () => {
    // Every two-letter prefix starting with B: no code may start with B at all (1 in 20 would).
    const prefixes = [...'BCDFGHJKLMNPQRSTVWXZ'].map((letter) => `B${letter}`).join(',');
    await clientWith('brand-tv', ['--deny-user-code-prefixes', prefixes]);
    for (let index = 0; index < 100; index++) {
      const device = await deviceAuthorization('brand-tv', `203.0.113.${index}`);
      assert.equal(device.status, 200);
      assert.doesNotMatch(device.body.user_code!, /^B/);
    }
  });

  test('a prefix that cannot begin a code is refused by the CLI', async () => {
    const result = await cli(['clients', 'add', 'vowel-tv', '--deny-user-code-prefixes', 'MSA']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /2-7 letters/);
  });
});
