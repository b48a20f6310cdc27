// The WAL checkpointer: checkpoints on a worker thread, started only once the log has grown.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { until } from '../support/until.ts';
import Database from 'better-sqlite3';
import { startWalCheckpointer } from '../../server/src/store/sqlite/wal-checkpointer.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A WAL database whose own connection never checkpoints, holding `rows` rows of 1 KiB. */
function walDatabase(rows: number) {
  const dir = mkdtempSync(path.join(tmpdir(), 'devicegate-wal-'));
  dirs.push(dir);
  const filename = path.join(dir, 'db.sqlite');
  const db = new Database(filename);
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run('x'.repeat(1024));
  })();
  return { db, filename };
}

test('once the log passes the threshold, a worker copies it into the database file', async () => {
  const { db, filename } = walDatabase(500);
  const before = statSync(filename).size;
  assert.ok(statSync(`${filename}-wal`).size > 256 * 1024, 'the rows are in the log');
  const checkpointer = startWalCheckpointer({ filename, startAboveBytes: 256 * 1024, watchMs: 20, intervalMs: 20 });
  try {
    await until(() => statSync(filename).size > before + 256 * 1024, 10_000, 'the database file to receive the pages');
    // Everything is readable, through the writer's connection, after the copy.
    assert.equal((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 500);
  } finally {
    await checkpointer.stop();
    db.close();
  }
});

test('below the threshold no worker starts, and the log stays as it is', async () => {
  const { db, filename } = walDatabase(10);
  const before = statSync(filename).size;
  const checkpointer = startWalCheckpointer({ filename, startAboveBytes: 4 * 1024 * 1024, watchMs: 20, intervalMs: 20 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(statSync(filename).size, before);
  await checkpointer.stop();
  db.close();
});

test('stop ends the worker: the writer can close and reopen the database', async () => {
  const { db, filename } = walDatabase(300);
  const checkpointer = startWalCheckpointer({ filename, startAboveBytes: 64 * 1024, watchMs: 20, intervalMs: 20 });
  const before = statSync(filename).size;
  await until(() => statSync(filename).size > before, 10_000, 'the first checkpoint');
  await checkpointer.stop();
  db.close();
  const reopened = new Database(filename);
  assert.equal((reopened.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 300);
  reopened.close();
});
