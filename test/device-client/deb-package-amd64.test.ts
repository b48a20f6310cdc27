/**
 * The amd64 Debian package of the device executable (npm run package:device): built here, read
 * with dpkg-deb, then installed on this machine with dpkg -i (as root), run, its conffile kept
 * across a reinstall, and purged. The arm64 package: deb-package-arm64.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { before, test } from 'node:test';
import { requireRealPart } from '../support/require-real-part.ts';
import { buildDevicePackage, packageLayoutTests, run, sh } from './support/deb.ts';
import { tempDir } from './support/temp.ts';

const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const out = tempDir('devicegate-deb-amd64-'); // removed after the file
let deb = '';
before(async () => {
  deb = await buildDevicePackage('amd64', out);
});

packageLayoutTests('amd64', () => deb, () => tempDir());

test('the amd64 package installs, runs, keeps an edited conffile on reinstall, and purges clean', async (t) => {
  if (process.arch !== 'x64') return t.skip('installs the amd64 package: needs an x64 machine');
  if (!requireRealPart('root (dpkg -i installs into this machine)', process.getuid?.() === 0, t)) return;
  if (!requireRealPart('systemd-analyze', existsSync(SYSTEMD_ANALYZE), t)) return;
  const status = await run('dpkg-query', ['-W', '-f=${Status}', 'devicegate-device']).then((r) => r.stdout, () => '');
  // Never purge an install this test did not make.
  assert.ok(!status.includes('installed'), `devicegate-device is already installed here (${status}); remove it first`);

  try {
    await sh('dpkg', ['-i', deb]);
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
    await sh('dpkg', ['-i', deb]);
    assert.match(readFileSync('/etc/devicegate-device/device.env', 'utf8'), /^DEVICEGATE_ISSUER=https:\/\/id\.example\.test$/m);
  } finally {
    await run('dpkg', ['--purge', 'devicegate-device']).catch(() => undefined);
  }
  assert.equal(existsSync('/usr/bin/devicegate-device'), false);
  assert.equal(existsSync('/etc/devicegate-device'), false, 'purge removes the conffile and the key directory');
  assert.equal(await run('getent', ['passwd', 'devicegate-device']).then(() => true, () => false), false, 'purge removes the user');
});
