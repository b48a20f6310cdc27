// `devicegate serve` is up or down, never half: a listener it cannot open stops the whole start
// with one line that names the listener and what to do, and nothing it opened stays open. The demo
// user's password survives such a failed start, and every start says how to reset it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createSqliteStore, loadConfig, startAppliance, type ApplianceModule } from '@devicegate/server';
import { defaultModules } from '@devicegate/appliance';
import { verifyPassword } from '@devicegate/server/passwords';
import { freePort } from '../support/ports.ts';
import { runCli, startServe } from './run-cli.ts';

const directories: string[] = [];
function freshDataDir(): string {
  const directory = mkdtempSync(path.join(tmpdir(), 'devicegate-cli-listeners-'));
  directories.push(directory);
  return directory;
}
after(() => {
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

/** Another program holding a port on 127.0.0.1, as a second appliance's broker would. */
let squatter: Server;
let takenPort: number;
before(async () => {
  squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  takenPort = (squatter.address() as { port: number }).port;
});
after(() => new Promise<void>((resolve) => squatter.close(() => resolve())));

/** Whether we can listen on the port ourselves: nobody else holds it. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

const LISTENING = /devicegate listening on (http:\/\/\S+)/;

test('serve with the MQTT port taken exits non-zero with one line naming the broker and what to do, and frees the HTTP port', async () => {
  const httpPort = await freePort();
  const result = await runCli(['serve', '--data-dir', freshDataDir(), '--host', '127.0.0.1', '--port', String(httpPort), '--mqtt-port', String(takenPort)]);
  assert.notEqual(result.code, 0, result.stdout);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, new RegExp(`^devicegate: cannot open the embedded MQTT broker on 127\\.0\\.0\\.1:${takenPort}: the port is already in use`));
  assert.match(lines[0]!, /--mqtt-port/);
  assert.match(lines[0]!, /--no-mqtt/);
  assert.doesNotMatch(result.stdout, LISTENING, 'it never announced itself');
  assert.equal(await portIsFree(httpPort), true, 'no listener left on the HTTP port');
});

test('serve with the HTTP port taken exits non-zero with one line naming the HTTP listener and --port', async () => {
  const mqttPort = await freePort();
  const result = await runCli(['serve', '--data-dir', freshDataDir(), '--host', '127.0.0.1', '--port', String(takenPort), '--mqtt-port', String(mqttPort)]);
  assert.notEqual(result.code, 0, result.stdout);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, new RegExp(`^devicegate: cannot open the HTTP listener on 127\\.0\\.0\\.1:${takenPort}: the port is already in use.*--port`));
  assert.equal(await portIsFree(mqttPort), true);
});

test('serve with the metrics port taken exits non-zero with one line naming the metrics listener and its setting, and frees the other ports', async () => {
  const httpPort = await freePort();
  const mqttPort = await freePort();
  const result = await runCli(['serve', '--data-dir', freshDataDir(), '--host', '127.0.0.1', '--port', String(httpPort), '--mqtt-port', String(mqttPort)], {
    env: { DEVICEGATE_METRICS: 'true', DEVICEGATE_METRICS_PORT: String(takenPort) },
  });
  assert.notEqual(result.code, 0, result.stdout);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, new RegExp(`^devicegate: cannot open the metrics listener on 127\\.0\\.0\\.1:${takenPort}: the port is already in use.*metrics\\.port \\(DEVICEGATE_METRICS_PORT\\)`));
  assert.doesNotMatch(result.stdout, LISTENING, 'it never announced itself');
  assert.equal(await portIsFree(httpPort), true, 'no listener left on the HTTP port');
  assert.equal(await portIsFree(mqttPort), true, 'no broker left on the MQTT port');
});

test('in process, a failed listener rejects the start and closes the HTTP listener it had opened', async () => {
  const httpPort = await freePort();
  const config = loadConfig({
    overrides: { host: '127.0.0.1', port: httpPort, dataDir: freshDataDir(), logLevel: 'silent', push: { mqttPort: takenPort } },
  });
  await assert.rejects(startAppliance(config, { modules: defaultModules }), (error: Error) => {
    assert.equal(error.name, 'ListenerError');
    assert.equal((error as Error & { code: string }).code, 'listener_failed');
    return true;
  });
  assert.equal(await portIsFree(httpPort), true);
  // The store was closed too: the same data directory starts again at once.
  const again = await startAppliance({ ...config, push: { ...config.push, mqttPort: await freePort() } }, { modules: defaultModules });
  await again.stop();
});

test('the demo password is not lost to a start that failed half-way: the next start prints one that works', async () => {
  const dataDir = freshDataDir();
  const failed = await runCli(['serve', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', String(await freePort()), '--mqtt-port', String(takenPort)]);
  assert.notEqual(failed.code, 0);
  assert.doesNotMatch(failed.stdout, /password: /);
  const serve = startServe(['--data-dir', dataDir, '--host', '127.0.0.1', '--port', String(await freePort()), '--mqtt-port', String(await freePort())]);
  let password: string | undefined;
  try {
    [, password] = await serve.waitFor(/demo client: demo-tv\s+demo user: demo\s+password: (\S+)/);
  } finally {
    assert.deepEqual(await serve.stop(), { code: 0, signal: null }, serve.stderr());
  }
  const store = createSqliteStore({ filename: path.join(dataDir, 'devicegate.sqlite') });
  try {
    assert.equal(await verifyPassword((await store.users.getByUsername('demo'))!.passwordHash, password!), true);
  } finally {
    await store.close();
  }
});

test('every start says how to set a new demo password, and that command works', async () => {
  const dataDir = freshDataDir();
  for (let start = 0; start < 2; start++) {
    const serve = startServe(['--data-dir', dataDir, '--host', '127.0.0.1', '--port', String(await freePort()), '--mqtt-port', String(await freePort())]);
    try {
      const [line] = await serve.waitFor(/demo user: demo\s+lost its password\? set a new one: .*\n/);
      assert.ok(line!.includes(`devicegate users passwd demo --password-stdin --data-dir ${dataDir}`), line);
    } finally {
      assert.deepEqual(await serve.stop(), { code: 0, signal: null }, serve.stderr());
    }
  }
  const reset = await runCli(['users', 'passwd', 'demo', '--password-stdin', '--data-dir', dataDir], { stdin: 'a-new-demo-password\n' });
  assert.equal(reset.code, 0, reset.stderr);
  const store = createSqliteStore({ filename: path.join(dataDir, 'devicegate.sqlite') });
  try {
    assert.equal(await verifyPassword((await store.users.getByUsername('demo'))!.passwordHash, 'a-new-demo-password'), true);
  } finally {
    await store.close();
  }
});

test('/readyz is green only while every module reports that it serves', async () => {
  let serving = true;
  const probe: ApplianceModule = { name: 'probe', ready: () => serving };
  const config = loadConfig({
    overrides: { host: '127.0.0.1', port: 0, dataDir: freshDataDir(), logLevel: 'silent', push: { mqttPort: await freePort() } },
  });
  const appliance = await startAppliance(config, { modules: (context) => [...defaultModules(context), probe] });
  try {
    const ready = await fetch(`${appliance.url}/readyz`);
    const body = (await ready.json()) as { parts: Record<string, boolean> };
    assert.equal(ready.status, 200);
    assert.deepEqual(Object.keys(body.parts).sort(), ['probe', 'push-mqtt-embedded', 'push-websocket', 'verification-ui'].sort());
    serving = false;
    const unready = await fetch(`${appliance.url}/readyz`);
    assert.equal(unready.status, 503);
    assert.equal(((await unready.json()) as { parts: Record<string, boolean> }).parts.probe, false);
  } finally {
    await appliance.stop();
  }
});
