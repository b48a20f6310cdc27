// `devicegate keys rotate|list`: next → current → retired, one step per rotation.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from './run-cli.ts';

let dataDir: string;
before(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'devicegate-cli-keys-'));
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

const cli = (args: string[]) => runCli([...args, '--data-dir', dataDir]);

/** Rows of the keys table as { kid, state }. */
function parseKeys(stdout: string): { kid: string; alg: string; state: string }[] {
  const [header, ...rows] = stdout.trimEnd().split('\n');
  assert.match(header!, /^KID\s+ALG\s+STATE/);
  return rows.map((row) => {
    const [kid, alg, state] = row.split(/\s+/);
    return { kid: kid!, alg: alg!, state: state! };
  });
}

test('keys list on an empty data directory lists nothing', async () => {
  const result = await cli(['keys', 'list']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), '(none)');
});

test('the first keys rotate creates the key set, then rotates it: retired, current, next', async () => {
  const result = await cli(['keys', 'rotate']);
  assert.equal(result.code, 0, result.stderr);
  const keys = parseKeys(result.stdout);
  assert.deepEqual(keys.map((key) => key.state).sort(), ['current', 'next', 'retired']);
  assert.ok(keys.every((key) => key.alg === 'ES256'));
  assert.equal(new Set(keys.map((key) => key.kid)).size, 3);
});

test('keys rotate promotes the published next key and retires the current one', async () => {
  const before = parseKeys((await cli(['keys', 'list'])).stdout);
  const rotated = await cli(['keys', 'rotate']);
  assert.equal(rotated.code, 0, rotated.stderr);
  const after = parseKeys((await cli(['keys', 'list'])).stdout);
  const kid = (keys: typeof before, state: string) => keys.filter((key) => key.state === state).map((key) => key.kid);
  assert.deepEqual(kid(after, 'current'), kid(before, 'next'));
  assert.ok(kid(after, 'retired').includes(kid(before, 'current')[0]!));
  assert.equal(kid(after, 'next').length, 1);
  assert.ok(!before.some((key) => key.kid === kid(after, 'next')[0]), 'a fresh next key');
});

test('private keys are sealed: the master key file is mode 0600 and the database holds no private JWK in clear', async () => {
  const { statSync, readFileSync } = await import('node:fs');
  assert.equal(statSync(path.join(dataDir, 'master.key')).mode & 0o777, 0o600);
  const database = readFileSync(path.join(dataDir, 'devicegate.sqlite')).toString('latin1');
  assert.ok(!/"d"\s*:\s*"/.test(database), 'no private key member "d" in clear');
});
