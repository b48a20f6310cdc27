// The appliance's Debian package (scripts/package-appliance.mjs, docs/deploy.md#the-debian-package),
// installed with the real dpkg into a scratch root (test/packages/scratch-root.ts): the layout and
// modes the maintainer scripts promise, the packaged `devicegate serve` started with the unit's own
// command line as the devicegate user, a device flow through the verification pages against it, an
// upgrade to a newer package that keeps the data and runs the store migration the older one lacked,
// then remove (data kept) and purge (data gone).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sqliteMigrations } from '../../server/src/store/sqlite/migrations.ts';
import { buildAppliancePackage, unitExecStart } from '../../scripts/package-appliance.mjs';
import { postForm } from '../server/http.ts';
import { waitUntilReady, type Daemon } from '../support/daemon.ts';
import { freePort } from '../support/ports.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { deviceAuthorizeAt, personAt, pollAt, type Instance } from '../scale-out/support.ts';
import { csrfOf, reachConsent, requestIdOf } from '../verification-ui/support.ts';
import { createScratchRoot, scratchRootUnavailable, type ScratchRoot } from './scratch-root.ts';

const unavailable = scratchRootUnavailable();
const PASSWORD = 'packaged-appliance-password';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const MIGRATIONS = 'server/src/store/sqlite/migrations.ts';
const countMigrations = (source: string) => source.match(/^ {2}\/\* \d+:/gm)?.length ?? 0;

/**
 * The older release the upgrade starts from: the newest commit whose SQLite store has fewer
 * migrations than this tree, exported from git (the workspaces only), with the workspaces' own
 * node_modules linked in. The upgrade then has real migrations to run on data the older code wrote.
 */
function olderReleaseTree(dir: string): { commit: string; migrations: number } {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const current = countMigrations(readFileSync(path.join(repoRoot, MIGRATIONS), 'utf8'));
  for (const commit of git('log', '--format=%H', '--', MIGRATIONS).trim().split('\n')) {
    let older: string;
    try {
      older = git('show', `${commit}^:${MIGRATIONS}`);
    } catch {
      break;
    }
    const migrations = countMigrations(older);
    if (migrations > 0 && migrations < current) {
      const workspaces = ['protocol', 'server', 'verification-ui', 'appliance'];
      execFileSync('sh', ['-c', `git archive --format=tar "$1" ${workspaces.join(' ')} | tar -x -C "$2"`, 'sh', `${commit}^`, dir], { cwd: repoRoot });
      for (const workspace of workspaces) {
        const modules = path.join(repoRoot, workspace, 'node_modules');
        if (existsSync(modules)) symlinkSync(modules, path.join(dir, workspace, 'node_modules'));
      }
      return { commit: git('rev-parse', '--short', `${commit}^`).trim(), migrations };
    }
  }
  throw new Error(`no commit in this checkout's history has fewer SQLite migrations than ${current} (a shallow clone? the upgrade test needs the history)`);
}

describe('the appliance Debian package', { skip: skipWithoutRealPart(`a scratch root for dpkg (${unavailable})`, unavailable === undefined) }, () => {
  let out: string;
  let older: Awaited<ReturnType<typeof buildAppliancePackage>>;
  let newer: Awaited<ReturnType<typeof buildAppliancePackage>>;
  let root: ScratchRoot;
  let server: Daemon | undefined;
  let olderRelease: { commit: string; migrations: number };

  before(async () => {
    out = mkdtempSync(path.join(tmpdir(), 'devicegate-appliance-deb-'));
    process.env.DEVICEGATE_PACKAGE_QUIET = '1';
    // zstd: the same package in seconds instead of xz's minute (dpkg reads both).
    const compression = { type: 'zstd', level: 3 } as const;
    mkdirSync(path.join(out, 'older-src'));
    olderRelease = olderReleaseTree(path.join(out, 'older-src'));
    older = await buildAppliancePackage({ version: '0.1.0-1', sourceRoot: path.join(out, 'older-src'), outDir: path.join(out, 'older'), compression });
    newer = await buildAppliancePackage({ version: '0.1.0-2', outDir: path.join(out, 'newer'), compression });
    root = await createScratchRoot();
    root.copyIn(older.deb, '/tmp/older.deb');
    root.copyIn(newer.deb, '/tmp/newer.deb');
  });

  after(async () => {
    await server?.stop('SIGKILL', 5000);
    await root?.close();
    if (out) rmSync(out, { recursive: true, force: true });
  });

  /** The unit's ExecStart with its Environment= lines, as the devicegate user in its WorkingDirectory. */
  async function startPackaged(port: number): Promise<Instance> {
    const unit = readFileSync(root.path('/lib/systemd/system/devicegate.service'), 'utf8');
    const environment = Object.fromEntries([...unit.matchAll(/^Environment=(\w+)=(.*)$/gm)].map((match) => [match[1]!, match[2]!]));
    const workingDirectory = /^WorkingDirectory=(.*)$/m.exec(unit)![1]!;
    const user = /^User=(.*)$/m.exec(unit)![1]!;
    const url = `http://127.0.0.1:${port}`;
    const command = unitExecStart(unit).map((word: string) => `'${word}'`).join(' ');
    server = root.start('packaged devicegate', ['sh', '-c', `cd ${workingDirectory} && exec ${command}`], {
      user,
      // What an operator puts in /etc/devicegate/devicegate.env: the port and the issuer.
      env: { ...environment, DEVICEGATE_PORT: String(port), DEVICEGATE_ISSUER: url, DEVICEGATE_MQTT_PORT: String(await freePort()), DEVICEGATE_LOG_LEVEL: 'warn' },
    });
    await waitUntilReady(server, async () => {
      try {
        return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200;
      } catch {
        return false;
      }
    }, { timeoutMs: 60_000, what: `ready on ${url}` });
    return { name: 'packaged', url };
  }

  async function stopPackaged(): Promise<void> {
    await server!.stop('SIGTERM', 30_000);
    assert.equal(server!.exitStatus(), 'exited with code 0', `clean shutdown: ${server!.output()}`);
    server = undefined;
  }

  /** PRAGMA user_version of the store, read as the service user with the package's own SQLite. */
  const schemaVersion = () =>
    Number(root.run(['/usr/lib/devicegate/bin/node', '-e', [
      "const Database = require('/usr/lib/devicegate/node_modules/better-sqlite3');",
      "const db = new Database('/var/lib/devicegate/devicegate.sqlite', { readonly: true, fileMustExist: true });",
      "process.stdout.write(String(db.pragma('user_version', { simple: true })));",
    ].join(' ')], { user: 'devicegate' }));

  const mode = (inside: string) => statSync(root.path(inside)).mode & 0o7777;
  const owner = (inside: string) => root.run(['stat', '-c', '%U:%G', inside]).trim();

  let refreshToken: string;

  test('installs with dpkg -i: the command, the user, 0700 state, the conffile, the unit', () => {
    root.run(['dpkg', '-i', '/tmp/older.deb']);
    assert.match(root.run(['dpkg-query', '-W', '-f', '${Status} ${Version}', 'devicegate']), /^install ok installed 0\.1\.0-1$/);
    assert.equal(root.run(['sh', '-c', 'command -v devicegate']).trim(), '/usr/bin/devicegate');
    assert.match(root.run(['getent', 'passwd', 'devicegate']), /^devicegate:x:\d+:\d+:[^:]*:\/var\/lib\/devicegate:\/usr\/sbin\/nologin$/m);
    assert.equal(owner('/var/lib/devicegate'), 'devicegate:devicegate');
    assert.equal(mode('/var/lib/devicegate'), 0o700);
    assert.match(root.run(['dpkg-query', '-W', '-f', '${Conffiles}', 'devicegate']), /^ \/etc\/devicegate\/config\.json [0-9a-f]{32}$/m);
    assert.equal(owner('/etc/devicegate/config.json'), 'root:devicegate');
    assert.equal(mode('/etc/devicegate/config.json'), 0o640);
    const config = JSON.parse(readFileSync(root.path('/etc/devicegate/config.json'), 'utf8'));
    assert.equal(config.dataDir, '/var/lib/devicegate');
    // The shipped runtime, not the system's: Debian bookworm's nodejs is 18.
    assert.match(root.run(['/usr/lib/devicegate/bin/node', '--version']), /^v\d+\./);
    assert.equal(root.run(['devicegate', '--version']).trim(), JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
    const unit = readFileSync(root.path('/lib/systemd/system/devicegate.service'), 'utf8');
    for (const line of ['User=devicegate', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'StateDirectory=devicegate', 'CapabilityBoundingSet=']) {
      assert.match(unit, new RegExp(`^${line}$`, 'm'), `the unit keeps ${line}`);
    }
    assert.doesNotMatch(unit, /\/opt\/devicegate/, 'no checkout paths in the packaged unit');
  });

  test('the packaged unit passes systemd-analyze verify', { skip: skipWithoutRealPart('systemd-analyze (Debian\'s systemd)', spawnSync('sh', ['-c', 'command -v systemd-analyze']).status === 0) }, () => {
    const result = root.tryRun(['systemd-analyze', 'verify', '--man=no', '/lib/systemd/system/devicegate.service']);
    assert.equal(result.status, 0, result.output);
    assert.doesNotMatch(result.output, /devicegate\.service/, `no warning about the unit: ${result.output}`);
  });

  test('the packaged CLI (run by root, as the devicegate user) and `devicegate serve` run a device flow', async () => {
    root.run(['devicegate', 'clients', 'add', 'tv', '--name', 'Living room TV', '--scopes', 'openid,profile,offline_access']);
    root.run(['devicegate', 'users', 'add', 'alice', '--password-stdin'], { input: `${PASSWORD}\n` });
    // Everything the store wrote is the service's, so the service can open it.
    assert.equal(root.run(['find', '/var/lib/devicegate', '!', '-user', 'devicegate']).trim(), '');

    const instance = await startPackaged(await freePort());
    const authorization = await deviceAuthorizeAt(instance, 'openid profile offline_access', 'tv');
    const person = personAt(instance);
    const consent = await reachConsent(person, authorization.user_code, { username: 'alice', password: PASSWORD });
    // The person leaves "stay signed in" (offline_access) and the profile ticked, as the page offers.
    const approved = await person.request('/device/consent', {
      form: new URLSearchParams([['csrf', csrfOf(consent.text)], ['request', requestIdOf(consent.text)], ['decision', 'approve'], ['scope', 'profile'], ['scope', 'offline_access']]),
    });
    assert.equal(approved.status, 303, approved.text.slice(0, 300));
    const tokens = await pollAt(instance, authorization.device_code, 'tv');
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    assert.ok(tokens.body.id_token && tokens.body.refresh_token, `an ID token and a refresh token: ${JSON.stringify(Object.keys(tokens.body))} scope ${tokens.body.scope}`);
    refreshToken = tokens.body.refresh_token;
    await stopPackaged();
    assert.equal(schemaVersion(), olderRelease.migrations, `the older package (${olderRelease.commit}) left its own schema`);
  });

  test('an upgrade keeps the data and the operator\'s config, and the new version migrates the store', async () => {
    const config = JSON.parse(readFileSync(root.path('/etc/devicegate/config.json'), 'utf8'));
    root.run(['sh', '-c', `printf '%s\\n' '${JSON.stringify({ ...config, logLevel: 'warn' })}' > /etc/devicegate/config.json`]);
    root.run(['dpkg', '-i', '/tmp/newer.deb']);
    assert.match(root.run(['dpkg-query', '-W', '-f', '${Version}', 'devicegate']), /^0\.1\.0-2$/);
    assert.equal(JSON.parse(readFileSync(root.path('/etc/devicegate/config.json'), 'utf8')).logLevel, 'warn', 'the changed conffile is kept');
    assert.equal(mode('/var/lib/devicegate'), 0o700);

    const instance = await startPackaged(await freePort());
    assert.equal(schemaVersion(), sqliteMigrations.length, `the newer version ran migrations ${olderRelease.migrations + 1}-${sqliteMigrations.length} on start`);
    // The grant the older version issued still works, and its user is still there.
    const refreshed = await postForm(instance.url, '/oauth/token', { grant_type: 'refresh_token', client_id: 'tv', refresh_token: refreshToken });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    await stopPackaged();
    assert.match(root.run(['devicegate', 'users', 'list']), /alice/);
  });

  test('remove keeps the data; purge deletes it', () => {
    root.run(['dpkg', '--remove', 'devicegate']);
    assert.equal(root.tryRun(['test', '-e', '/usr/bin/devicegate']).status, 1, 'the command is gone');
    assert.equal(root.tryRun(['test', '-e', '/usr/lib/devicegate']).status, 1, 'the runtime is gone');
    assert.equal(root.tryRun(['test', '-s', '/var/lib/devicegate/devicegate.sqlite']).status, 0, 'remove keeps the store');
    assert.equal(root.tryRun(['test', '-f', '/etc/devicegate/config.json']).status, 0, 'remove keeps the configuration');
    root.run(['dpkg', '--purge', 'devicegate']);
    assert.equal(root.tryRun(['test', '-e', '/var/lib/devicegate']).status, 1, 'purge deletes the state');
    assert.equal(root.tryRun(['test', '-e', '/etc/devicegate']).status, 1, 'purge deletes the configuration');
    assert.equal(root.tryRun(['dpkg-query', '-W', 'devicegate']).status, 1, 'dpkg knows the package no more');
  });
});
