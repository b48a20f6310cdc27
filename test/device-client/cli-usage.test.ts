import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import type { DeviceCliEvent } from '@devicegate/protocol';
import { createTokenStore } from '@devicegate/device-client';
import { cliInProcess, cliProcess, type CliResult } from './support/cli.ts';
import { deviceEnv, tempDir } from './support/temp.ts';

/** Exactly one line on stderr, nothing on stdout. */
function assertOneLineError(result: CliResult, code: number, pattern?: RegExp): void {
  assert.equal(result.code, code, `exit code (stderr: ${result.stderr})`);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /^devicegate-device: [^\n]+\n$/);
  if (pattern) assert.match(result.stderr, pattern);
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('no command: one line, exit 2', async () => {
  assertOneLineError(await cliInProcess([], deviceEnv(tempDir())), 2, /missing command/);
});

test('an unknown command: one line, exit 2', async () => {
  assertOneLineError(await cliInProcess(['frobnicate'], deviceEnv(tempDir())), 2, /unknown command/);
});

test('an unknown option: one line, exit 2', async () => {
  assertOneLineError(await cliInProcess(['login', '--bogus'], deviceEnv(tempDir())), 2, /unknown option '--bogus'/);
});

test('login without an issuer: one line, exit 2', async () => {
  assertOneLineError(await cliInProcess(['login', '--client-id', 'tv'], deviceEnv(tempDir())), 2, /--issuer/);
});

test('login without a client id: one line, exit 2', async () => {
  assertOneLineError(await cliInProcess(['login', '--issuer', 'https://id.example'], deviceEnv(tempDir())), 2, /--client-id/);
});

test('login with an unknown channel: one line, exit 2', async () => {
  const result = await cliInProcess(['login', '--issuer', 'https://id.example', '--client-id', 'tv', '--channel', 'pigeon'], deviceEnv(tempDir()));
  assertOneLineError(result, 2, /pigeon/);
});

test('login with an issuer that is not a URL: one line, exit 2', async () => {
  assertOneLineError(await cliInProcess(['login', '--issuer', 'not a url', '--client-id', 'tv'], deviceEnv(tempDir())), 2, /not a URL/);
});

test('a profile name that could leave the store directory: one line, exit 2', async () => {
  assertOneLineError(await cliInProcess(['token', '--profile', '../../etc/passwd'], deviceEnv(tempDir())), 2, /profile name/);
});

test('--json: a usage error is one DeviceCliEvent error line on stdout, and one line on stderr', async () => {
  const result = await cliInProcess(['login', '--json', '--client-id', 'tv'], deviceEnv(tempDir()));
  assert.equal(result.code, 2);
  const lines = result.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 1);
  const event = JSON.parse(lines[0]!) as DeviceCliEvent;
  assert.equal(event.event, 'error');
  assert.ok(event.event === 'error' && event.error === 'usage' && /--issuer/.test(event.message));
  assert.match(result.stderr, /^devicegate-device: [^\n]+\n$/);
});

test('token when not logged in: one line, exit 7', async () => {
  assertOneLineError(await cliInProcess(['token'], deviceEnv(tempDir())), 7, /not logged in/);
});

test('proof without --url, or with a URL that is none: one line, exit 2', async () => {
  assertOneLineError(await cliInProcess(['proof'], deviceEnv(tempDir())), 2, /--url/);
  assertOneLineError(await cliInProcess(['proof', '--url', 'not a url'], deviceEnv(tempDir())), 2, /not a URL/);
  assertOneLineError(await cliInProcess(['proof', '--url', 'https://api.example/', '--method', 'G E T'], deviceEnv(tempDir())), 2, /HTTP method/);
});

test('proof when not logged in: one line, exit 7', async () => {
  assertOneLineError(await cliInProcess(['proof', '--url', 'https://api.example/v1'], deviceEnv(tempDir())), 7, /not logged in/);
});

test('status when not logged in: says so, exit 7', async () => {
  const result = await cliInProcess(['status'], deviceEnv(tempDir()));
  assert.equal(result.code, 7);
  assert.match(result.stdout, /not logged in/);
});

test('logout when not logged in: nothing to do, exit 0', async () => {
  const result = await cliInProcess(['logout'], deviceEnv(tempDir()));
  assert.equal(result.code, 0);
  assert.match(result.stdout, /was not logged in/);
});

test('a world-readable store: one line, exit 6', async () => {
  const env = deviceEnv(tempDir());
  const store = createTokenStore({ env });
  await store.save('default', { issuer: 'https://id.example', clientId: 'tv', tokens: { accessToken: 'secret-at' }, savedAt: 0 });
  chmodSync(store.fileOf('default'), 0o604);
  const result = await cliInProcess(['token'], env);
  assertOneLineError(result, 6, /accessible to group or others/);
  assert.doesNotMatch(result.stderr, /secret-at/);
});

test('an appliance that cannot be reached: one line, exit 5', async () => {
  const issuer = `http://127.0.0.1:${await closedPort()}`;
  assertOneLineError(await cliInProcess(['login', '--issuer', issuer, '--client-id', 'tv'], deviceEnv(tempDir())), 5, /cannot reach/);
});

test('issuer and client id may come from the environment', async () => {
  const issuer = `http://127.0.0.1:${await closedPort()}`;
  const env = { ...deviceEnv(tempDir()), DEVICEGATE_ISSUER: issuer, DEVICEGATE_CLIENT_ID: 'tv' };
  assertOneLineError(await cliInProcess(['login'], env), 5, /cannot reach/);
});

test('the installed command (bin shim through tsx) exits 2 on a usage error, with one line', async () => {
  assertOneLineError(await cliProcess(['login', '--bogus'], deviceEnv(tempDir())), 2, /unknown option/);
});

test('the installed command prints help and exits 0 on --help', async () => {
  const result = await cliProcess(['--help'], deviceEnv(tempDir()));
  assert.equal(result.code, 0);
  assert.match(result.stdout, /login/);
  assert.match(result.stdout, /token/);
});
