import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../../server/src/config.ts';
import { environmentVariables } from '../../server/src/config.ts';

const readme = readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../README.md'), 'utf8');

test('boolean settings read "false", "0", "no" and "off" as false from the environment', () => {
  for (const raw of ['false', '0', 'no', 'off', 'FALSE']) {
    assert.equal(loadConfig({ env: { DEVICEGATE_DEMO: raw } }).demo, false, raw);
  }
  assert.equal(loadConfig({ env: { DEVICEGATE_WEBSOCKET: 'off' } }).push.websocket, false);
  assert.equal(loadConfig({ env: { DEVICEGATE_DEMO: 'yes' } }).demo, true);
});

test('boolean settings given as strings in a JSON config file are read, not coerced', () => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'devicegate-config-')), 'config.json');
  writeFileSync(file, JSON.stringify({ demo: 'false', push: { mqttEmbedded: false } }));
  const config = loadConfig({ file });
  assert.equal(config.demo, false);
  assert.equal(config.push.mqttEmbedded, false);
});

test('a boolean setting that is neither true nor false is a one-line configuration error', () => {
  assert.throws(() => loadConfig({ env: { DEVICEGATE_DEMO: 'maybe' } }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /^invalid configuration: demo \(DEVICEGATE_DEMO\): must be true or false$/);
    return true;
  });
});

test('a plain http issuer is refused unless it is loopback (TLS only, RFC 8628 §3.1)', () => {
  assert.throws(() => loadConfig({ overrides: { issuer: 'http://login.example.com' } }), /must be an https:\/\/ URL/);
  assert.equal(loadConfig({ overrides: { issuer: 'https://login.example.com/' } }).issuer, 'https://login.example.com');
  assert.equal(loadConfig({ overrides: { issuer: 'http://localhost:8080' } }).issuer, 'http://localhost:8080');
});

test('an unknown setting in a config file is refused by name', () => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'devicegate-config-')), 'config.json');
  writeFileSync(file, JSON.stringify({ prot: 8080 }));
  assert.throws(() => loadConfig({ file }), /Unrecognized key.*prot/);
});

test('the README configuration reference names every environment variable and setting', () => {
  for (const [name, key] of Object.entries(environmentVariables)) {
    assert.ok(readme.includes(`\`${name}\``), `README lacks ${name}`);
    assert.ok(readme.includes(`\`${key}\``), `README lacks setting ${key}`);
  }
});
