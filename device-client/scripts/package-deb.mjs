#!/usr/bin/env node
/**
 * Debian packages of the device executable, one per architecture, built offline (the arm64 Node
 * comes from the npm registry's cache, see node-binaries.mjs):
 *
 *   npm run package:device                          amd64 and arm64 -> dist/packages/
 *   npm run package:device -- --arch arm64          one architecture
 *   npm run package:device -- --out /tmp/debs       somewhere else
 *   npm run package:device -- --compression zstd    quick builds (tests); xz, the smallest, by default
 *
 * Each package: /usr/bin/devicegate-device (the single executable, build-sea.mjs), the systemd
 * unit devicegate-device.service, /etc/devicegate-device/device.env (a conffile: edits survive
 * upgrades), a devicegate-device system user made by postinst; purge removes tokens, key and user.
 * The files come from device-client/packaging/; scripts/lib/deb.mjs writes DEBIAN/ and runs dpkg-deb.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildDeb } from '../../scripts/lib/deb.mjs';

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repoDir = path.resolve(packageDir, '..');
const packaging = path.join(packageDir, 'packaging');

// Debian architecture names (dpkg-architecture -L) for Node's process.arch names.
const DEBIAN_ARCH = { x64: 'amd64', arm64: 'arm64' };
const NODE_ARCH = Object.fromEntries(Object.entries(DEBIAN_ARCH).map(([node, debian]) => [debian, node]));

const { values } = parseArgs({
  options: {
    arch: { type: 'string', multiple: true },
    out: { type: 'string' },
    // An executable built before (build-sea.mjs --out), for one --arch: skips the build.
    binary: { type: 'string' },
    compression: { type: 'string', default: 'xz' },
    quiet: { type: 'boolean', default: false },
  },
});
const say = (text) => {
  if (!values.quiet) process.stderr.write(`package-deb: ${text}\n`);
};

const arches = values.arch ?? ['amd64', 'arm64'];
for (const arch of arches) {
  if (!NODE_ARCH[arch]) throw new Error(`--arch ${arch}: use amd64 or arm64 (Debian's names)`);
}
if (values.binary && arches.length !== 1) throw new Error('--binary goes with exactly one --arch');
const outDir = path.resolve(values.out ?? path.join(repoDir, 'dist', 'packages'));
const { version } = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8'));

const work = mkdtempSync(path.join(tmpdir(), 'devicegate-package-device-'));
try {
  for (const arch of arches) {
    const staging = path.join(work, arch);
    const put = (from, to, mode) => {
      const target = path.join(staging, to);
      mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
      copyFileSync(from, target);
      chmodSync(target, mode);
    };

    let binary = values.binary && path.resolve(values.binary);
    if (!binary) {
      binary = path.join(work, `devicegate-device-${arch}`);
      execFileSync(process.execPath, [path.join(packageDir, 'scripts', 'build-sea.mjs'), '--arch', NODE_ARCH[arch], '--out', binary, ...(values.quiet ? ['--quiet'] : [])], {
        stdio: ['ignore', 'inherit', 'inherit'],
      });
    }
    put(binary, 'usr/bin/devicegate-device', 0o755);
    // /lib/systemd/system is where Debian 12's systemd packages put units (usr-merge moves it
    // under /usr later; both resolve to the same place on a merged-/usr system).
    put(path.join(packaging, 'devicegate-device.service'), 'lib/systemd/system/devicegate-device.service', 0o644);
    put(path.join(packaging, 'device.env'), 'etc/devicegate-device/device.env', 0o600);
    put(path.join(packageDir, 'README.md'), 'usr/share/doc/devicegate-device/README.md', 0o644);
    // Directories as dpkg expects them on the target: 0755 (staging may have another umask).
    execFileSync('find', [staging, '-type', 'd', '-exec', 'chmod', '0755', '{}', '+']);

    const script = (name) => readFileSync(path.join(packaging, name), 'utf8');
    const deb = await buildDeb({
      stagingDir: staging,
      control: {
        Package: 'devicegate-device',
        Version: version,
        Architecture: arch,
        Maintainer: 'devicegate maintainers <devicegate@localhost>', // as the appliance's package
        // The release Node's own needs (readelf -d: libstdc++, libgcc_s, glibc; symbol versions
        // up to GLIBC_2.28 and GLIBCXX_3.4.21) and adduser for the postinst.
        Depends: ['adduser', 'libc6 (>= 2.28)', 'libstdc++6 (>= 5)', 'libgcc-s1 | libgcc1'],
        Section: 'net',
        Priority: 'optional',
        Description: [
          'devicegate device sign-in (OAuth 2.0 device authorization grant)',
          'Signs a device without a keyboard in to a devicegate appliance (RFC 8628):',
          'shows a code and QR code, waits for approval on a phone, keeps the tokens',
          'encrypted, refreshes them, and drops them when the appliance revokes the',
          'sign-in. One executable (Node.js inside, nothing else needed) and a',
          'systemd unit that keeps the board signed in.',
        ].join('\n'),
      },
      conffiles: ['/etc/devicegate-device/device.env'],
      scripts: { postinst: script('postinst'), prerm: script('prerm'), postrm: script('postrm') },
      outDir,
      compression: { type: values.compression },
    });
    const mib = (file) => (statSync(file).size / (1024 * 1024)).toFixed(1);
    say(`${path.relative(process.cwd(), deb)}: ${mib(deb)} MiB (executable ${mib(binary)} MiB)`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
