// The SQLite database (argon2 hashes, live user codes) and the data directory are the owner's
// alone whatever the process umask, and an existing directory is tightened too
// (docs/security.md DATA-FILES).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig, openStore } from '@devicegate/server';

let root: string;
let previousUmask: number;

before(() => {
  root = mkdtempSync(path.join(tmpdir(), 'devicegate-files-'));
  // The loosest umask: whatever is private below is so because the appliance made it so.
  previousUmask = process.umask(0o000);
});
after(() => {
  process.umask(previousUmask);
  rmSync(root, { recursive: true, force: true });
});

const modeOf = (file: string) => statSync(file).mode & 0o777;

test('a new data directory is 0700 and the database it holds 0600, its WAL too', async () => {
  const dataDir = path.join(root, 'new');
  const store = await openStore(loadConfig({ overrides: { dataDir } }));
  try {
    await store.users.getByUsername('nobody');
    assert.equal(modeOf(dataDir), 0o700);
    assert.equal(modeOf(path.join(dataDir, 'devicegate.sqlite')), 0o600);
    assert.equal(modeOf(path.join(dataDir, 'devicegate.sqlite-wal')), 0o600);
  } finally {
    await store.close();
  }
});

test('an existing data directory and database readable by others are tightened on open', async () => {
  const dataDir = path.join(root, 'existing');
  mkdirSync(dataDir, { mode: 0o755 });
  chmodSync(dataDir, 0o755);
  const filename = path.join(dataDir, 'devicegate.sqlite');
  writeFileSync(filename, '', { mode: 0o644 });
  chmodSync(filename, 0o644);
  const store = await openStore(loadConfig({ overrides: { dataDir } }));
  try {
    assert.equal(modeOf(dataDir), 0o700);
    assert.equal(modeOf(filename), 0o600);
  } finally {
    await store.close();
  }
});
