// The shared store contract against the SQLite store, each test in a fresh database file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSqliteStore } from '@devicegate/server';
import { describeStoreContract } from './store-contract.ts';

describeStoreContract('sqlite', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'devicegate-store-'));
  const store = createSqliteStore({ filename: path.join(dir, 'devicegate.sqlite') });
  return {
    store,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
