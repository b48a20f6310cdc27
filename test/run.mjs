#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's own test runner (TypeScript through tsx).
//   node test/run.mjs              all test files
//   node test/run.mjs store token  only files whose path (relative to the repo) contains a filter
// Node 20's --test takes no globs, so the files are listed here, sorted for a stable order.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const testDir = join(root, 'test');

/** Every *.test.ts under dir, skipping node_modules and dot-directories. */
function findTestFiles(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findTestFiles(path));
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

const filters = process.argv.slice(2);
const files = findTestFiles(testDir)
  .map((path) => relative(root, path).split(sep).join('/'))
  .filter((path) => filters.length === 0 || filters.some((filter) => path.includes(filter)))
  .sort();

if (files.length === 0) {
  const what = filters.length ? ` matching ${filters.map((f) => JSON.stringify(f)).join(' or ')}` : '';
  console.error(`test/run.mjs: no test files${what} under test/`);
  process.exit(1);
}

// Which Node runs what is the first thing to know when a run fails on one Node only
// (test/second-node.mjs runs part of the suite on a second one). package.json "engines" lists the
// maintained LTS lines as ^major ranges; a Node outside them still runs the suite, with a note.
const engines = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).engines?.node ?? '';
const supportedMajors = [...engines.matchAll(/\^(\d+)\./g)].map((match) => Number(match[1]));
const major = Number(process.versions.node.split('.')[0]);
console.log(`test/run.mjs: Node ${process.version} (${process.execPath}) runs ${files.length} test file${files.length === 1 ? '' : 's'}`);
if (supportedMajors.length && !supportedMajors.includes(major)) {
  console.log(`test/run.mjs: note: Node ${process.version} is outside package.json engines (${engines}); README "Node versions" says why the suite still runs on it`);
}

// The spec reporter is for people; the TAP reporter, written to a file, gives us the runner's
// closing counts (`# pass N`, `# fail N`), which are printed again at the very end so they are the
// last lines of the run whatever the spec reporter's format is in this Node version.
const tapDir = mkdtempSync(join(tmpdir(), 'devicegate-test-run-'));
const tapFile = join(tapDir, 'report.tap');

const args = [
  '--import', 'tsx',
  '--test',
  // Two cores: one file per core. Files that start real servers (PostgreSQL, Chromium) are heavy.
  '--test-concurrency=2',
  // Generous: a cold Chromium or initdb on a loaded 2-core machine takes seconds; a hang still ends.
  '--test-timeout=300000',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
  ...files,
];

const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });

// Forward an interrupt so the runner can end its test processes (and they their servers).
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => child.kill(signal));
}

child.on('exit', (code, signal) => {
  printSummary();
  rmSync(tapDir, { recursive: true, force: true });
  if (signal) {
    console.error(`test/run.mjs: test runner ended by ${signal}`);
    process.exit(1);
  }
  process.exit(code ?? 1);
});

function printSummary() {
  let tap = '';
  try {
    tap = readFileSync(tapFile, 'utf8');
  } catch {
    return; // the runner died before reporting: its own output says why
  }
  const counts = {};
  for (const line of tap.split('\n')) {
    const match = /^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) (\S+)$/.exec(line);
    if (match) counts[match[1]] = match[2];
  }
  if (counts.pass === undefined) return;
  console.log('');
  console.log(`# node ${process.version}`);
  for (const [name, value] of Object.entries(counts)) console.log(`# ${name} ${value}`);
}
