// `devicegate clients add|update --allowed-origin`: the web origins whose browser apps may use a
// client (CORS, docs/security.md CORS-ORIGIN), as an operator sets them. A file of its own: each
// command is a process start, and the other clients tests fill their file's time already.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runCli, assertOneLineError, listClients as listClientsOf } from './run-cli.ts';

let dataDir: string;
before(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'devicegate-cli-origins-'));
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

const cli = (args: string[]) => runCli([...args, '--data-dir', dataDir]);
const listClients = () => listClientsOf(dataDir);


test('clients add --allowed-origin, repeated, stores each web origin once', async () => {
  const result = await cli(['clients', 'add', 'web-tv', '--allowed-origin', 'https://tv.example.com', '--allowed-origin', 'http://127.0.0.1:8080', '--allowed-origin', 'https://tv.example.com']);
  assert.equal(result.code, 0, result.stderr);
  const client = (await listClients()).find((entry) => entry.clientId === 'web-tv');
  assert.deepEqual(client?.allowedOrigins, ['https://tv.example.com', 'http://127.0.0.1:8080']);
});

test('clients add refuses an --allowed-origin that is not an origin (a path, a wildcard, another scheme)', async () => {
  for (const value of ['https://tv.example.com/app', '*', 'file:///tv']) {
    assertOneLineError(await cli(['clients', 'add', 'bad-origin', '--allowed-origin', value]), /--allowed-origin must be an origin/);
  }
  assert.equal((await listClients()).some((entry) => entry.clientId === 'bad-origin'), false);
});

test('clients update replaces the allowed origins and keeps everything else; --no-allowed-origins clears them', async () => {
  assert.equal((await cli(['clients', 'add', 'set-top', '--scopes', 'openid,profile', '--interval', '7'])).code, 0);
  const updated = await cli(['clients', 'update', 'set-top', '--allowed-origin', 'https://stb.example.com']);
  assert.equal(updated.code, 0, updated.stderr);
  assert.match(updated.stdout, /set-top updated/);
  let client = (await listClients()).find((entry) => entry.clientId === 'set-top');
  assert.deepEqual(client?.allowedOrigins, ['https://stb.example.com']);
  assert.deepEqual(client?.scopes, ['openid', 'profile']);
  assert.equal(client?.pollInterval, 7);
  assert.equal((await cli(['clients', 'update', 'set-top', '--no-allowed-origins'])).code, 0);
  client = (await listClients()).find((entry) => entry.clientId === 'set-top');
  assert.deepEqual(client?.allowedOrigins, []);
  assertOneLineError(await cli(['clients', 'update', 'no-such-client', '--name', 'x']), /no client "no-such-client"/);
});
