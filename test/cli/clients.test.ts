// `devicegate clients add|list|remove` as an operator runs them, against a data directory that
// a running appliance then serves from.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startTestAppliance } from '../support/appliance.ts';
import { basicAuthorization, postForm } from '../server/http.ts';
import { runCli, assertOneLineError, listClients as listClientsOf } from './run-cli.ts';

let dataDir: string;
before(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'devicegate-cli-clients-'));
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

const cli = (args: string[], stdin?: string) => runCli([...args, '--data-dir', dataDir], { stdin });
const listClients = () => listClientsOf(dataDir);


test('clients add registers a public device client with the device and refresh grants', async () => {
  const result = await cli(['clients', 'add', 'living-room-tv', '--name', 'Living room TV', '--scopes', 'openid,profile,offline_access']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /living-room-tv saved \(public\)/);
  const client = (await listClients()).find((entry) => entry.clientId === 'living-room-tv');
  assert.ok(client);
  assert.equal(client.confidential, false);
  assert.equal(client.name, 'Living room TV');
  assert.deepEqual(client.grantTypes, ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token']);
  assert.deepEqual(client.scopes, ['openid', 'profile', 'offline_access']);
});

test('clients add stores per-client expires_in, interval, token format and introspection', async () => {
  const result = await cli(['clients', 'add', 'kiosk', '--expires-in', '120', '--interval', '3', '--token-format', 'opaque']);
  assert.equal(result.code, 0, result.stderr);
  const client = (await listClients()).find((entry) => entry.clientId === 'kiosk');
  assert.equal(client?.deviceCodeLifetime, 120);
  assert.equal(client?.pollInterval, 3);
  assert.equal(client?.accessTokenFormat, 'opaque');
  assert.equal(client?.mayIntrospect, false);
});

test('clients add --confidential reads the secret from stdin, and the client authenticates with it', async () => {
  const secret = 'api-gateway-secret-0123456789';
  const result = await cli(
    ['clients', 'add', 'api-gateway', '--confidential', '--grant-types', 'client_credentials', '--scopes', 'api', '--introspect'],
    `${secret}\n`,
  );
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /saved \(confidential\)/);
  assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret), 'the secret is never echoed');
  const client = (await listClients()).find((entry) => entry.clientId === 'api-gateway');
  assert.equal(client?.confidential, true);
  assert.equal(client?.mayIntrospect, true);
  assert.equal('secretHash' in (client ?? {}), false, 'list --json shows no secret hash');

  const dg = await startTestAppliance({ dataDir });
  try {
    const ok = await postForm(dg.issuer, '/oauth/token', { grant_type: 'client_credentials' }, { authorization: basicAuthorization('api-gateway', secret) });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const wrong = await postForm(dg.issuer, '/oauth/token', { grant_type: 'client_credentials' }, { authorization: basicAuthorization('api-gateway', 'not-it') });
    assert.equal(wrong.status, 401);
  } finally {
    await dg.stop();
  }
});

test('clients add --confidential without a secret on stdin fails with one line', async () => {
  assertOneLineError(await cli(['clients', 'add', 'no-secret', '--confidential'], ''), /secret/);
});

test('clients add refuses a short secret', async () => {
  assertOneLineError(await cli(['clients', 'add', 'short-secret', '--confidential'], 'short\n'), /at least 16/);
});

test('clients add refuses client_credentials for a public client', async () => {
  assertOneLineError(await cli(['clients', 'add', 'public-m2m', '--grant-types', 'client_credentials']), /confidential/);
});

test('clients add refuses an unknown grant type', async () => {
  assertOneLineError(await cli(['clients', 'add', 'ropc', '--grant-types', 'password']), /unknown grant type/);
});

test('clients add refuses a client_id with spaces or control characters', async () => {
  assertOneLineError(await cli(['clients', 'add', 'has space']), /client_id/);
});

test('clients add refuses a non-numeric interval', async () => {
  assertOneLineError(await cli(['clients', 'add', 'bad-interval', '--interval', 'soon']), /--interval/);
});

test('clients add refuses an existing client_id unless --replace is given', async () => {
  assert.equal((await cli(['clients', 'add', 'twice'])).code, 0);
  assertOneLineError(await cli(['clients', 'add', 'twice']), /already exists/);
  const replaced = await cli(['clients', 'add', 'twice', '--replace', '--interval', '9']);
  assert.equal(replaced.code, 0, replaced.stderr);
  assert.equal((await listClients()).find((entry) => entry.clientId === 'twice')?.pollInterval, 9);
});

test('clients list prints a table with one row per client', async () => {
  const result = await cli(['clients', 'list']);
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^CLIENT_ID\s+NAME\s+TYPE/);
  assert.ok(lines.some((line) => /^api-gateway\s.*confidential/.test(line)));
  assert.ok(lines.some((line) => /^living-room-tv\s.*public/.test(line)));
});

test('clients remove deletes a client; removing it again fails', async () => {
  assert.equal((await cli(['clients', 'add', 'short-lived'])).code, 0);
  const removed = await cli(['clients', 'remove', 'short-lived']);
  assert.equal(removed.code, 0, removed.stderr);
  assert.ok(!(await listClients()).some((entry) => entry.clientId === 'short-lived'));
  assertOneLineError(await cli(['clients', 'remove', 'short-lived']), /no client/);
});
