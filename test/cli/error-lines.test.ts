// Error lines that say what broke and what to do: the setting (and the flag, variable or file its
// value came from) with the form it must take, the database file with a way out, the data
// directory that is a file. One line each, never a stack trace.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { runCli } from './run-cli.ts';

const root = mkdtempSync(path.join(tmpdir(), 'devicegate-cli-error-lines-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Runs the command and returns its one stderr line, after checking it is one and non-zero. */
async function oneLine(args: string[], options: { env?: Record<string, string> } = {}): Promise<{ line: string; code: number | null }> {
  const result = await runCli(args, options);
  assert.notEqual(result.code, 0, result.stdout);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.doesNotMatch(result.stderr, /\bat .*\.(ts|js):\d+/, 'no stack trace');
  return { line: lines[0]!, code: result.code };
}

test('a port flag that is not a number names the flag and the expected form', async () => {
  const { line, code } = await oneLine(['serve', '--data-dir', root, '--port', 'eighty']);
  assert.equal(line, 'devicegate: invalid configuration: port (flag --port): must be a whole number from 0 to 65535, got "eighty"');
  assert.equal(code, 2);
});

test('a bad DEVICEGATE_MQTT_PORT names the variable and the expected form', async () => {
  const { line } = await oneLine(['serve', '--data-dir', root], { env: { DEVICEGATE_MQTT_PORT: '70000' } });
  assert.equal(line, 'devicegate: invalid configuration: push.mqttPort (DEVICEGATE_MQTT_PORT): must be a whole number from 0 to 65535, got "70000"');
});

test('a bad setting in the config file names the file', async () => {
  const file = path.join(root, 'bad-port.json');
  writeFileSync(file, JSON.stringify({ port: 'http' }));
  const { line } = await oneLine(['serve', '--data-dir', root, '--config', file]);
  assert.equal(line, `devicegate: invalid configuration: port (in ${file}): must be a whole number from 0 to 65535, got "http"`);
});

test('a secret setting is never echoed in the line', async () => {
  const { line } = await oneLine(['serve', '--data-dir', root], { env: { DEVICEGATE_DEMO_PASSWORD: 'short' } });
  assert.match(line, /demoPassword \(DEVICEGATE_DEMO_PASSWORD\)/);
  assert.doesNotMatch(line, /short"/);
});

test('a data directory that is a file gets a line naming it and what to do, not EEXIST', async () => {
  const file = path.join(root, 'not-a-directory');
  writeFileSync(file, 'x');
  for (const args of [['serve', '--data-dir', file], ['users', 'list', '--data-dir', file]]) {
    const { line } = await oneLine(args);
    assert.doesNotMatch(line, /EEXIST/);
    assert.equal(
      line,
      `devicegate: data directory ${file} is a file, not a directory (or lies under one): point dataDir (--data-dir, DEVICEGATE_DATA_DIR) at a directory, or move the file away`,
    );
  }
});

test('a database file that is not one gets a line naming the path and what to do', async () => {
  const dataDir = path.join(root, 'garbled');
  mkdirSync(dataDir);
  const database = path.join(dataDir, 'devicegate.sqlite');
  writeFileSync(database, 'this is not a SQLite database, it only has its name '.repeat(10));
  for (const args of [['serve', '--data-dir', dataDir], ['clients', 'list', '--data-dir', dataDir]]) {
    const { line } = await oneLine(args);
    assert.ok(line.startsWith(`devicegate: ${database} is not a SQLite database (file is not a database): `), line);
    assert.match(line, /point dataDir \(--data-dir, DEVICEGATE_DATA_DIR\) at the data directory of this appliance, or move the file away/);
  }
});
