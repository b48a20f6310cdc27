import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, configSchema, environmentVariables, loadConfig, upstreamProviderSchema } from '../../server/src/config.ts';

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
    assert.match(error.message, /^invalid configuration: demo \(DEVICEGATE_DEMO\): must be true or false, got "maybe"$/);
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

/** The README's configuration table: setting → its environment variable and default cells. */
function readmeConfigurationTable(): Map<string, { environment: string; defaultValue: string }> {
  const section = readme.slice(readme.indexOf('\n## Configuration\n'), readme.indexOf('\n## Command line\n'));
  const rows = new Map<string, { environment: string; defaultValue: string }>();
  for (const line of section.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const cells = line.slice(1, -1).split('|').map((cell) => cell.trim());
    const setting = /^`([\w.*]+)`$/.exec(cells[0] ?? '')?.[1];
    if (!setting || cells.length < 4) continue;
    assert.ok(!rows.has(setting), `README names ${setting} twice`);
    rows.set(setting, { environment: cells[1]!, defaultValue: cells[2]! });
  }
  return rows;
}

/** Every setting's default as the schema gives it, nested objects flattened one level (push.*, dpop.*, limits.*). */
function schemaDefaults(): Map<string, unknown> {
  const defaults = new Map<string, unknown>();
  for (const [key, value] of Object.entries(configSchema.shape)) {
    const inner = value._def.innerType?._def;
    if (inner?.typeName === 'ZodObject') {
      const nested = configSchema.shape[key as keyof typeof configSchema.shape].parse(undefined) as Record<string, unknown>;
      const shape = (inner.shape as () => Record<string, unknown>)();
      for (const name of Object.keys(shape)) defaults.set(`${key}.${name}`, nested[name]);
    } else {
      defaults.set(key, value.safeParse(undefined).success ? value.parse(undefined) : undefined);
    }
  }
  return defaults;
}

test('the README configuration table lists every setting with its environment variable and its default', () => {
  const table = readmeConfigurationTable();
  const variableOf = new Map(Object.entries(environmentVariables).map(([name, key]) => [key, name]));
  for (const [setting, value] of schemaDefaults()) {
    // The abuse limits' buckets share one row (their defaults and reasons: config.ts, docs/security.md).
    const row = table.get(setting) ?? (setting.startsWith('limits.') ? table.get('limits.*') : undefined);
    assert.ok(row, `README lacks setting ${setting}`);
    if (row === table.get('limits.*')) continue;
    const variable = variableOf.get(setting);
    assert.equal(row.environment, variable ? `\`${variable}\`` : '', `README's environment variable of ${setting}`);
    if (value === undefined) {
      // No schema default (computed, or none): the README says in words or with placeholders
      // (`http://<host>:<port>`) what happens, never a value the schema does not have.
      assert.ok(!/^`[^`<]*`$/.test(row.defaultValue), `README gives ${setting} a literal default (${row.defaultValue}) the schema does not have`);
    } else {
      assert.equal(row.defaultValue, `\`${String(value)}\``, `README's default of ${setting}`);
    }
  }
  const known = schemaDefaults();
  for (const setting of table.keys()) assert.ok(setting === 'limits.*' || known.has(setting), `README names ${setting}, which is no setting`);
});

test('an upstream provider needs exactly one client credential, and provider ids are unique', () => {
  const provider = { id: 'corp', issuer: 'https://login.example.com', clientId: 'devicegate', label: 'Corp' };
  assert.throws(() => loadConfig({ overrides: { signIn: { providers: [provider] } } }), /set clientSecret or privateKeyFile/);
  assert.throws(() => loadConfig({ overrides: { signIn: { providers: [{ ...provider, clientSecret: 's', privateKeyFile: '/k.pem' }] } } }), /exactly one/);
  assert.throws(() => loadConfig({ overrides: { signIn: { providers: [{ ...provider, clientSecret: 's' }, { ...provider, clientSecret: 's' }] } } }), /unique/);
  assert.throws(() => loadConfig({ overrides: { signIn: { providers: [{ ...provider, issuer: 'http://login.example.com', clientSecret: 's' }] } } }), /https/);
  const config = loadConfig({ overrides: { signIn: { providers: [{ ...provider, clientSecret: 's' }] } } });
  assert.deepEqual(config.signIn.providers?.[0]?.scopes, ['openid', 'profile', 'email']);
  assert.equal(config.signIn.providers?.[0]?.claims.username, 'preferred_username');
});

/** The README's table of an upstream provider's fields: field → its default cell. */
function readmeProviderTable(): Map<string, string> {
  const section = readme.slice(readme.indexOf('\n## Bring your own identity provider\n'), readme.indexOf('\n## Push: the device knows at once\n'));
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = line.startsWith('| `') ? line.slice(1, -1).split('|').map((cell) => cell.trim()) : [];
    const field = /^`(\w+)`$/.exec(cells[0] ?? '')?.[1];
    if (field) rows.set(field, cells[1]!);
  }
  return rows;
}

test("the README's provider table names every field of an upstream provider with its default", () => {
  const table = readmeProviderTable();
  const shape = upstreamProviderSchema._def.schema.shape;
  for (const [field, schema] of Object.entries(shape)) {
    const row = table.get(field);
    assert.ok(row !== undefined, `README lacks provider field ${field}`);
    const parsed = (schema as { safeParse(value: unknown): { success: boolean; data?: unknown } }).safeParse(undefined);
    if (parsed.success && parsed.data !== undefined) assert.equal(row, `\`${JSON.stringify(parsed.data).replace(/^"|"$/g, '')}\``, `README's default of ${field}`);
  }
  for (const field of table.keys()) assert.ok(field in shape, `README names provider field ${field}, which is none`);
});
