// Builds a Debian binary package from a staging directory with dpkg-deb, so every package the
// project ships (the appliance, the device client per architecture) is laid out the same way.
//
// The staging directory holds the files as they land on the target (usr/bin/..., lib/systemd/...,
// etc/...); this module adds DEBIAN/ (control, conffiles, maintainer scripts) and runs
// `dpkg-deb --build --root-owner-group`, so no fakeroot is needed and every file is owned by
// root:root in the archive (ownership of runtime state is the postinst's job).
// Field meanings: Debian Policy §5.3 (binary control files) and §5.6 (fields), in particular
// §5.6.20 Installed-Size (KiB, rounded up); conffiles: Policy §10.7.3; maintainer scripts: §6.
import { execFile } from 'node:child_process';
import { chmod, lstat, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

// Fields dpkg requires in a binary package's control file (Policy §5.3).
const REQUIRED = ['Package', 'Version', 'Architecture', 'Maintainer', 'Description'];
// The order `dpkg-deb --info` and Debian's own tools print; other fields follow in the caller's order.
const ORDER = ['Package', 'Source', 'Version', 'Architecture', 'Maintainer', 'Installed-Size', 'Depends',
  'Pre-Depends', 'Recommends', 'Suggests', 'Conflicts', 'Breaks', 'Replaces', 'Provides', 'Section',
  'Priority', 'Homepage'];
const SCRIPTS = ['preinst', 'postinst', 'prerm', 'postrm'];

/**
 * Sums the staged files the way dpkg-gencontrol does for Installed-Size: each regular file's size
 * rounded up to whole KiB, and one KiB for every other entry (directories, symlinks).
 */
export async function installedSizeKiB(dir) {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const stat = await lstat(path);
    if (stat.isDirectory()) total += 1 + (await installedSizeKiB(path));
    else if (stat.isFile()) total += Math.ceil(stat.size / 1024);
    else total += 1;
  }
  return total;
}

function controlText(control) {
  for (const field of REQUIRED) {
    if (!control[field] || typeof control[field] !== 'string') throw new Error(`buildDeb: control.${field} is required`);
  }
  const names = [...ORDER.filter((name) => name in control), ...Object.keys(control).filter((name) => !ORDER.includes(name))];
  const lines = [];
  for (const name of names) {
    const value = control[name];
    if (value === undefined || value === null || value === '') continue;
    if (!/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(name)) throw new Error(`buildDeb: bad control field name ${JSON.stringify(name)}`);
    const text = Array.isArray(value) ? value.join(', ') : String(value);
    if (name === 'Description') {
      // First line is the synopsis; later lines are the extended description, each indented by one
      // space and an empty line written as " ." (Policy §5.6.13).
      const [synopsis, ...rest] = text.replace(/\s+$/, '').split('\n');
      lines.push(`Description: ${synopsis}`);
      for (const line of rest) lines.push(line.trim() === '' ? ' .' : ` ${line}`);
    } else {
      if (text.includes('\n')) throw new Error(`buildDeb: control.${name} must be one line`);
      lines.push(`${name}: ${text}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Writes DEBIAN/ into stagingDir and builds `<Package>_<Version>_<Architecture>.deb` in outDir.
 * control: Package, Version, Architecture, Maintainer, Description (first line the synopsis) and any
 * other field (Depends may be a string or an array); Installed-Size is computed unless given.
 * conffiles: absolute paths on the target, each must exist in the staging directory.
 * scripts: { preinst, postinst, prerm, postrm } shell script texts, written mode 0755.
 * compression: { type: 'xz' | 'zstd' | 'gzip' | 'none', level?: 0-9 }; xz by default (the smallest
 * download, what Debian's archive uses); zstd builds many times faster (tests) and dpkg reads it
 * since 1.21.18 (bookworm has 1.21.22).
 * Returns the path of the built .deb.
 */
export async function buildDeb({ stagingDir, control, conffiles = [], scripts = {}, outDir, compression = { type: 'xz' } }) {
  if (!stagingDir || !outDir || !control) throw new Error('buildDeb: stagingDir, control and outDir are required');
  const staging = resolve(stagingDir);
  const debian = join(staging, 'DEBIAN');
  await rm(debian, { recursive: true, force: true });

  // Counted before DEBIAN/ is written: the metadata is not installed.
  const size = await installedSizeKiB(staging);

  for (const file of conffiles) {
    if (!file.startsWith('/')) throw new Error(`buildDeb: conffile ${file} must be an absolute path`);
    const stat = await lstat(join(staging, file)).catch(() => null);
    if (!stat?.isFile()) throw new Error(`buildDeb: conffile ${file} is not a file in ${staging}`);
  }
  for (const name of Object.keys(scripts)) {
    if (!SCRIPTS.includes(name)) throw new Error(`buildDeb: unknown maintainer script ${name} (one of ${SCRIPTS.join(', ')})`);
  }

  await mkdir(debian, { mode: 0o755 });
  await chmod(debian, 0o755);
  const fields = { ...control };
  if (!('Installed-Size' in fields)) fields['Installed-Size'] = String(size);
  await writeFile(join(debian, 'control'), controlText(fields), { mode: 0o644 });
  if (conffiles.length > 0) await writeFile(join(debian, 'conffiles'), `${conffiles.join('\n')}\n`, { mode: 0o644 });
  for (const [name, text] of Object.entries(scripts)) {
    if (text === undefined || text === null) continue;
    const path = join(debian, name);
    await writeFile(path, text.endsWith('\n') ? text : `${text}\n`);
    await chmod(path, 0o755);
  }

  await mkdir(outDir, { recursive: true });
  const out = join(resolve(outDir), `${control.Package}_${control.Version}_${control.Architecture}.deb`);
  await rm(out, { force: true });
  if (!['xz', 'zstd', 'gzip', 'none'].includes(compression.type)) throw new Error(`buildDeb: unknown compression ${compression.type}`);
  // Without a level dpkg-deb's default is used (xz -6): -z9 is far slower and gains little on
  // machine code. --root-owner-group: files owned by root:root without fakeroot.
  const level = compression.level === undefined ? [] : [`-z${compression.level}`];
  await run('dpkg-deb', ['--build', '--root-owner-group', `-Z${compression.type}`, ...level, staging, out], { maxBuffer: 16 * 1024 * 1024 });
  return out;
}
