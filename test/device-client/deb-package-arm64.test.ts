/**
 * The arm64 Debian package of the device executable (Raspberry Pi OS 64-bit), built on this
 * machine with the Node release binary from the npm registry: read with dpkg-deb, its executable
 * checked to be AArch64. (sea-arm64.e2e.test.ts runs that executable under qemu.)
 */
import { before } from 'node:test';
import { buildDevicePackage, packageLayoutTests } from './support/deb.ts';
import { tempDir } from './support/temp.ts';

const out = tempDir('devicegate-deb-arm64-'); // removed after the file
let deb = '';
before(async () => {
  deb = await buildDevicePackage('arm64', out);
});

packageLayoutTests('arm64', () => deb, () => tempDir());
