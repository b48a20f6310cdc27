/**
 * The Debian packages of the device executable (npm run package:device): built here for amd64 and
 * arm64, their metadata and file lists read with dpkg-deb, the arm64 one's executable checked to
 * be aarch64, and the amd64 one installed on this machine with dpkg -i (as root), run, its
 * conffile kept across a reinstall, and purged.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { requireRealPart } from '../support/require-real-part.ts';
import { tempDir } from './support/temp.ts';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = tempDir('devicegate-deb-'); // removed after the file
const deb = (arch: string) => path.join(out, `devicegate-device_0.1.0_${arch}.deb`);
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';

async function sh(file: string, args: string[]): Promise<string> {
  return (await run(file, args, { maxBuffer: 64 * 1024 * 1024 })).stdout;
}

/** `dpkg-deb --contents` as { path: 'mode owner/group size' }. */
async function contents(file: string): Promise<Map<string, { mode: string; owner: string; size: number }>> {
  const entries = new Map<string, { mode: string; owner: string; size: number }>();
  for (const line of (await sh('dpkg-deb', ['--contents', file])).trim().split('\n')) {
    const [mode, owner, size, , , name] = line.split(/\s+/);
    entries.set(name!.replace(/^\.\//, '/'), { mode: mode!, owner: owner!, size: Number(size) });
  }
  return entries;
}

async function field(file: string, name: string): Promise<string> {
  return (await sh('dpkg-deb', ['--field', file, name])).trim();
}

before(
  async () => {
    const started = performance.now();
    await run(process.execPath, [path.join(root, 'device-client', 'scripts', 'package-deb.mjs'), '--out', out, '--quiet'], {
      cwd: root,
      maxBuffer: 16 * 1024 * 1024,
    });
    const mib = (file: string) => (statSync(file).size / (1024 * 1024)).toFixed(1);
    process.stderr.write(`# packages built in ${Math.round((performance.now() - started) / 1000)} s: amd64 ${mib(deb('amd64'))} MiB, arm64 ${mib(deb('arm64'))} MiB\n`);
  },
  // Two executables and two xz-compressed archives of ~95 MB each: minutes on a busy 2-core machine.
  { timeout: 20 * 60_000 },
);

for (const arch of ['amd64', 'arm64']) {
  test(`the ${arch} package's control fields, files, modes and conffile`, async () => {
    const file = deb(arch);
    assert.equal(await field(file, 'Package'), 'devicegate-device');
    assert.equal(await field(file, 'Architecture'), arch);
    assert.equal(await field(file, 'Version'), JSON.parse(readFileSync(path.join(root, 'device-client', 'package.json'), 'utf8')).version);
    assert.match(await field(file, 'Depends'), /\badduser\b.*libc6 \(>= 2\.28\)/);
    const installedKiB = Number(await field(file, 'Installed-Size'));

    const files = await contents(file);
    const binary = files.get('/usr/bin/devicegate-device');
    assert.ok(binary, 'the executable at /usr/bin/devicegate-device');
    assert.equal(binary.mode, '-rwxr-xr-x');
    assert.equal(binary.owner, 'root/root');
    assert.ok(binary.size > 50 * 1024 * 1024, 'the executable carries Node');
    assert.ok(installedKiB >= binary.size / 1024, 'Installed-Size counts the executable');
    assert.equal(files.get('/lib/systemd/system/devicegate-device.service')?.mode, '-rw-r--r--');
    // It may hold a client secret: root only, in the archive already (not only after postinst).
    assert.equal(files.get('/etc/devicegate-device/device.env')?.mode, '-rw-------');
    assert.equal((await sh('dpkg-deb', ['--info', file, 'conffiles'])).trim(), '/etc/devicegate-device/device.env');
    for (const script of ['postinst', 'prerm', 'postrm']) {
      assert.match(await sh('dpkg-deb', ['--info', file, script]), /^#!\/bin\/sh\n/, script);
    }
  });
}

test('the arm64 package holds an aarch64 executable, the amd64 one an x86-64 executable', async () => {
  for (const [arch, machine] of [['arm64', 0xb7], ['amd64', 0x3e]] as const) {
    const dir = tempDir();
    await run('dpkg-deb', ['-x', deb(arch), dir]);
    const header = readFileSync(path.join(dir, 'usr', 'bin', 'devicegate-device')).subarray(0, 20);
    assert.equal(header.subarray(0, 4).toString('latin1'), '\x7fELF', arch);
    assert.equal(header.readUInt16LE(18), machine, `${arch}: ELF e_machine`);
  }
});

test('the amd64 package installs, runs, keeps an edited conffile on reinstall, and purges clean', async (t) => {
  if (process.arch !== 'x64') return t.skip('installs the amd64 package: needs an x64 machine');
  if (!requireRealPart('root (dpkg -i installs into this machine)', process.getuid?.() === 0, t)) return;
  if (!requireRealPart('systemd-analyze', existsSync(SYSTEMD_ANALYZE), t)) return;
  const status = await run('dpkg-query', ['-W', '-f=${Status}', 'devicegate-device']).then((r) => r.stdout, () => '');
  // Never purge an install this test did not make.
  assert.ok(!status.includes('installed'), `devicegate-device is already installed here (${status}); remove it first`);

  try {
    await sh('dpkg', ['-i', deb('amd64')]);
    assert.equal((await sh('/usr/bin/devicegate-device', ['--version'])).trim(), '0.1.0');
    assert.match(await sh('getent', ['passwd', 'devicegate-device']), /:\/usr\/sbin\/nologin$/m);
    const key = statSync('/etc/devicegate-device/key');
    assert.equal(key.mode & 0o777, 0o700, 'the store refuses a key directory others can read');
    assert.equal(key.uid, Number((await sh('id', ['-u', 'devicegate-device'])).trim()));
    assert.equal(statSync('/etc/devicegate-device/device.env').mode & 0o777, 0o600);
    // The unit as installed: systemd's own parser (systemd-analyze(1) verify), no systemd running.
    await run(SYSTEMD_ANALYZE, ['verify', '/lib/systemd/system/devicegate-device.service']);

    // A conffile (Debian Policy §10.7.3): an operator's edit survives the package going on again.
    writeFileSync('/etc/devicegate-device/device.env', 'DEVICEGATE_ISSUER=https://id.example.test\nDEVICEGATE_CLIENT_ID=board\n');
    await sh('dpkg', ['-i', deb('amd64')]);
    assert.match(readFileSync('/etc/devicegate-device/device.env', 'utf8'), /^DEVICEGATE_ISSUER=https:\/\/id\.example\.test$/m);
  } finally {
    await run('dpkg', ['--purge', 'devicegate-device']).catch(() => undefined);
  }
  assert.equal(existsSync('/usr/bin/devicegate-device'), false);
  assert.equal(existsSync('/etc/devicegate-device'), false, 'purge removes the conffile and the key directory');
  assert.equal(await run('getent', ['passwd', 'devicegate-device']).then(() => true, () => false), false, 'purge removes the user');
});
