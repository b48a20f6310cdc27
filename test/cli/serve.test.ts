// `devicegate serve` as a process: first start on an empty data directory, restarts, bad
// configuration, graceful shutdown on SIGTERM.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createSqliteStore } from '@devicegate/server';
import { verifyPassword } from '@devicegate/server/passwords';
import { freePort } from '../support/ports.ts';
import { runCli, startServe } from './run-cli.ts';

let dataDir: string;
before(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'devicegate-cli-serve-'));
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

async function portFlags(): Promise<string[]> {
  return ['--host', '127.0.0.1', '--port', String(await freePort()), '--mqtt-port', String(await freePort())];
}

const LISTENING = /devicegate listening on (http:\/\/\S+)/;

test('the first start on an empty data directory prints the demo password once, and it is the demo user’s', async () => {
  const serve = startServe(['--data-dir', dataDir, ...(await portFlags())]);
  try {
    const [, url] = await serve.waitFor(LISTENING);
    const [, password] = await serve.waitFor(/demo client: demo-tv\s+demo user: demo\s+password: (\S+)/);
    assert.ok(password!.length >= 12);
    assert.equal((await fetch(`${url}/readyz`)).status, 200);
    const discovery = (await (await fetch(`${url}/.well-known/openid-configuration`)).json()) as { issuer: string };
    assert.equal(discovery.issuer, url);
    // Printed once: the line appears a single time, and only the hash is stored.
    assert.equal(serve.output().split(password!).length - 1, 1);
    const store = createSqliteStore({ filename: path.join(dataDir, 'devicegate.sqlite') });
    try {
      const demo = await store.users.getByUsername('demo');
      assert.ok(demo);
      assert.equal(await verifyPassword(demo.passwordHash, password!), true);
      assert.ok((await store.clients.get('demo-tv')) !== null);
    } finally {
      await store.close();
    }
  } finally {
    const ended = await serve.stop();
    assert.deepEqual(ended, { code: 0, signal: null }, serve.stderr());
  }
});

test('a second start on the same data directory prints no password', async () => {
  const serve = startServe(['--data-dir', dataDir, ...(await portFlags())]);
  try {
    await serve.waitFor(LISTENING);
    await serve.waitFor(/verification page: /);
  } finally {
    const ended = await serve.stop();
    assert.deepEqual(ended, { code: 0, signal: null }, serve.stderr());
  }
  // No password is printed again; only how to set a new one.
  assert.doesNotMatch(serve.output(), /password: /i);
  assert.match(serve.output(), /demo user: demo\s+lost its password\? set a new one: devicegate users passwd demo --password-stdin/);
});

test('DEVICEGATE_DEMO_PASSWORD sets the demo password, which is then not printed', async () => {
  const directory = mkdtempSync(path.join(tmpdir(), 'devicegate-cli-serve-env-'));
  const serve = startServe(['--data-dir', directory, ...(await portFlags())], { env: { DEVICEGATE_DEMO_PASSWORD: 'chosen-demo-password' } });
  try {
    await serve.waitFor(LISTENING);
    await serve.waitFor(/verification page: /);
    assert.deepEqual(await serve.stop(), { code: 0, signal: null }, serve.stderr());
    assert.ok(!serve.output().includes('chosen-demo-password'));
    const store = createSqliteStore({ filename: path.join(directory, 'devicegate.sqlite') });
    try {
      assert.equal(await verifyPassword((await store.users.getByUsername('demo'))!.passwordHash, 'chosen-demo-password'), true);
    } finally {
      await store.close();
    }
  } finally {
    await serve.stop();
    rmSync(directory, { recursive: true, force: true });
  }
});

test('serve prints the short address devices show: DEVICEGATE_VERIFICATION_URI without its scheme', async () => {
  const directory = mkdtempSync(path.join(tmpdir(), 'devicegate-cli-serve-short-'));
  const serve = startServe(['--data-dir', directory, ...(await portFlags())], { env: { DEVICEGATE_VERIFICATION_URI: 'http://localhost:8080/tv' } });
  try {
    await serve.waitFor(LISTENING);
    await serve.waitFor(/short address: localhost:8080\/tv\n/);
  } finally {
    await serve.stop();
    rmSync(directory, { recursive: true, force: true });
  }
});

test('SIGTERM drains and exits 0; SIGINT too', async () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const serve = startServe(['--data-dir', dataDir, ...(await portFlags())]);
    const [, url] = await serve.waitFor(LISTENING);
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    const ended = await serve.stop(signal);
    assert.deepEqual(ended, { code: 0, signal: null }, `${signal}: ${serve.stderr()}`);
    assert.match(serve.output(), /shutting down/);
  }
});

const badInvocations: { name: string; args: string[]; env?: Record<string, string>; pattern: RegExp }[] = [
  { name: 'a port that is not a number', args: ['serve', '--port', 'eighty'], pattern: /port/ },
  { name: 'a port out of range', args: ['serve', '--port', '70000'], pattern: /port/ },
  { name: 'an unknown log level', args: ['serve', '--log-level', 'loud'], pattern: /log-level|loud/ },
  { name: 'an unknown flag', args: ['serve', '--bogus'], pattern: /bogus/ },
  { name: 'an unknown command', args: ['launch'], pattern: /launch/ },
  { name: 'a plain http issuer that is not loopback', args: ['serve', '--issuer', 'http://example.com'], pattern: /issuer/ },
  { name: 'an issuer that is not a URL', args: ['serve', '--issuer', 'not a url'], pattern: /issuer/ },
  { name: 'a bad DEVICEGATE_PORT', args: ['serve'], env: { DEVICEGATE_PORT: 'x' }, pattern: /port/ },
  { name: 'a bad boolean in the environment', args: ['serve'], env: { DEVICEGATE_DEMO: 'maybe' }, pattern: /DEVICEGATE_DEMO/ },
  { name: 'a missing config file', args: ['serve', '--config', '/nonexistent/devicegate.json'], pattern: /config/ },
  { name: 'a postgres URL that is not one', args: ['serve', '--database-url', 'mysql://x'], pattern: /databaseUrl|postgres/ },
];

for (const bad of badInvocations) {
  test(`${bad.name} gives one line on stderr and a non-zero exit`, async () => {
    const result = await runCli([...bad.args, '--data-dir', dataDir], { env: bad.env, timeoutMs: 90_000 });
    assert.notEqual(result.code, 0, result.stdout);
    const lines = result.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /^devicegate: /);
    assert.match(lines[0]!, bad.pattern);
    assert.doesNotMatch(result.stderr, /\bat .*\.ts:\d+/, 'no stack trace');
  });
}

test('a config file that is not JSON, or has an unknown setting, gives one line and a non-zero exit', async () => {
  const notJson = path.join(dataDir, 'broken.json');
  writeFileSync(notJson, '{ port: 80');
  const unknown = path.join(dataDir, 'unknown.json');
  writeFileSync(unknown, JSON.stringify({ prot: 8080 }));
  for (const file of [notJson, unknown]) {
    const result = await runCli(['serve', '--config', file, '--data-dir', dataDir], { timeoutMs: 90_000 });
    assert.notEqual(result.code, 0);
    assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /^devicegate: .*(JSON|prot|unrecognized)/i);
  }
});

test('a port already in use gives one line and a non-zero exit', async () => {
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    const result = await runCli(['serve', '--data-dir', dataDir, '--port', String(port), '--mqtt-port', String(await freePort())], { timeoutMs: 90_000 });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /^devicegate: .*(EADDRINUSE|in use)/);
    assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
  } finally {
    blocker.close();
  }
});
