// The WAL checkpointer's thread (see wal-checkpointer.ts): its own connection to the database,
// copying committed pages from the write-ahead log into the database file and syncing it, so that
// this work, and the fsync it waits for, never stalls the appliance's event loop. Plain
// JavaScript: a worker thread does not inherit the TypeScript loader the CLI registers.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { filename, intervalMs } = workerData;
const db = new Database(filename, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
// This connection never writes; it must not checkpoint on a commit of its own either.
db.pragma('wal_autocheckpoint = 0');

function checkpoint() {
  try {
    // PASSIVE: copies what no reader still needs and never blocks the writer. Once a pass has
    // copied every frame, the next write starts the log over from its beginning.
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // A failed pass loses nothing (the log keeps every commit); the next one tries again, and the
    // writer's own checkpoint at its higher threshold is the safety net.
  }
}

const timer = setInterval(checkpoint, intervalMs);
checkpoint();
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
