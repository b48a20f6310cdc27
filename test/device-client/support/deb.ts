/**
 * The Debian packages of the device executable (device-client/scripts/package-deb.mjs), built for
 * one architecture per test file, so two files run side by side, and with zstd instead of the
 * shipped xz: the same archive layout, where xz over a ~95 MB executable takes minutes on a busy
 * machine.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export async function sh(file: string, args: string[]): Promise<string> {
  return (await run(file, args, { maxBuffer: 64 * 1024 * 1024 })).stdout;
}

/** Builds devicegate-device_<version>_<arch>.deb into outDir and returns its path. */
export async function buildDevicePackage(arch: 'amd64' | 'arm64', outDir: string): Promise<string> {
  const started = performance.now();
  await run(process.execPath, [path.join(root, 'device-client', 'scripts', 'package-deb.mjs'), '--arch', arch, '--out', outDir, '--compression', 'zstd', '--quiet'], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
  });
  const deb = path.join(outDir, `devicegate-device_${packageVersion()}_${arch}.deb`);
  process.stderr.write(`# ${arch} package built in ${Math.round((performance.now() - started) / 1000)} s: ${(statSync(deb).size / (1024 * 1024)).toFixed(1)} MiB\n`);
  return deb;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(root, 'device-client', 'package.json'), 'utf8')) as { version: string }).version;
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

/** ELF e_machine (System V ABI): 0x3e x86-64, 0xb7 AArch64. */
const MACHINE = { amd64: 0x3e, arm64: 0xb7 } as const;

/** The tests every package gets: control fields, files and modes, conffile, scripts, ELF machine. */
export function packageLayoutTests(arch: 'amd64' | 'arm64', deb: () => string, scratch: () => string): void {
  test(`the ${arch} package's control fields, files, modes and conffile`, async () => {
    const file = deb();
    assert.equal(await field(file, 'Package'), 'devicegate-device');
    assert.equal(await field(file, 'Architecture'), arch);
    assert.equal(await field(file, 'Version'), packageVersion());
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

  test(`the ${arch} package's executable is a ${arch} ELF file`, async () => {
    const dir = scratch();
    await run('dpkg-deb', ['-x', deb(), dir]);
    const header = readFileSync(path.join(dir, 'usr', 'bin', 'devicegate-device')).subarray(0, 20);
    assert.equal(header.subarray(0, 4).toString('latin1'), '\x7fELF');
    assert.equal(header[4], 2, 'ELFCLASS64');
    assert.equal(header.readUInt16LE(18), MACHINE[arch], 'ELF e_machine');
  });
}
