/**
 * The single executable (npm run build:device) built here, then used as firmware would: from a
 * directory with no node_modules, login --json, token, status, logout against the real appliance.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestAppliance } from '../support/appliance.ts';
import { cliProcess } from './support/cli.ts';
import { assertNoSecrets, jsonLogin, storedSecrets } from './support/cli-login.ts';
import { DEVICE_CLIENT_ID, DEVICE_SCOPE, startDeviceAppliance } from './support/e2e.ts';
import { deviceEnv, tempDir } from './support/temp.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

let dg: TestAppliance;
const binary = path.join(tempDir('devicegate-sea-'), 'devicegate-device'); // removed after the file
before(async () => {
  await promisify(execFile)(process.execPath, [path.join(root, 'device-client', 'scripts', 'build-sea.mjs'), '--out', binary, '--quiet'], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
  });
  dg = await startDeviceAppliance();
});
after(() => dg?.stop());

test('the build makes one executable file', () => {
  const stat = statSync(binary);
  assert.ok(stat.isFile());
  assert.equal(stat.mode & 0o111, 0o111, 'executable');
});

test('the single executable signs in (login --json) with DPoP, prints a token and a proof, and logs out', async (t) => {
  // Runs from an empty directory: nothing to find in node_modules, and no Node of ours needed.
  const env = deviceEnv(tempDir());
  const command = [binary];
  const login = await jsonLogin(dg, ['--client-id', DEVICE_CLIENT_ID, '--scope', DEVICE_SCOPE], env, 'approve', t, command);
  assert.equal(login.code, 0, login.stderr);
  assert.deepEqual(login.events.map((event) => event.event), ['code', 'approved', 'stored']);
  assert.equal(login.stderr, '', 'no warnings from the executable');
  const secrets = await storedSecrets(env);

  const token = await cliProcess(['token'], env, { command });
  assert.equal(token.code, 0, token.stderr);
  assert.equal(token.stdout, `${secrets[0]}\n`);

  const status = await cliProcess(['status', '--json'], env, { command });
  assert.equal(status.code, 0, status.stderr);
  const state = JSON.parse(status.stdout) as { loggedIn: boolean; tokenType: string; dpop: boolean };
  assert.equal(state.loggedIn, true);
  assert.equal(state.tokenType, 'DPoP', 'the tokens are bound to the key the executable made');
  assert.equal(state.dpop, true);

  // The bundled node:crypto signs proofs the appliance accepts: userinfo with the bound token.
  const userinfo = `${dg.issuer}/oauth/userinfo`;
  const proof = await cliProcess(['proof', '--url', userinfo], env, { command });
  assert.equal(proof.code, 0, proof.stderr);
  const response = await fetch(userinfo, { headers: { authorization: `DPoP ${secrets[0]}`, dpop: proof.stdout.trim() } });
  assert.equal(response.status, 200, await response.text());

  const logout = await cliProcess(['logout'], env, { command });
  assert.equal(logout.code, 0, logout.stderr);
  assert.equal((await cliProcess(['token'], env, { command })).code, 7);

  for (const [what, result] of [['login', login], ['status', status], ['logout', logout]] as const) {
    assertNoSecrets(result.stdout + result.stderr, secrets, what);
  }
});

test('the single executable reports usage errors in one line with exit 2', async () => {
  const result = await cliProcess(['login', '--bogus'], deviceEnv(tempDir()), { command: [binary] });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^devicegate-device: [^\n]+\n$/);
});
