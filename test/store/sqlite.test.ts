// The shared store contract against the SQLite store, each test in a fresh database file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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

// SQLite keeps the time of the last poll in process memory and writes only a grown interval
// (poll-state.ts): what survives a restart, and what is forgotten on purpose.
describe('sqlite poll accounting across a restart', () => {
  it('a grown interval survives reopening the database; the time of the last poll does not', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'devicegate-store-'));
    const filename = path.join(dir, 'devicegate.sqlite');
    const t0 = 1_700_000_000_000;
    const grant = {
      id: 'grant-restart',
      deviceCodeHash: 'hash-restart',
      userCode: 'BCDFGHJK',
      clientId: 'demo-tv',
      scopes: ['openid'],
      deviceName: null,
      deviceModel: null,
      requestedFrom: null,
      pushKey: 'push-restart',
      createdAt: t0,
      expiresAt: t0 + 600_000,
      interval: 5,
      resources: [],
    };
    try {
      const first = createSqliteStore({ filename });
      await first.deviceGrants.create(grant);
      assert.equal((await first.deviceGrants.recordPoll(grant.deviceCodeHash, grant.clientId, t0)).kind, 'ok');
      assert.equal((await first.deviceGrants.recordPoll(grant.deviceCodeHash, grant.clientId, t0 + 1000)).kind, 'slow_down');
      await first.close();

      const second = createSqliteStore({ filename });
      assert.equal((await second.deviceGrants.findById(grant.id))?.interval, 10, 'the grown interval was written');
      // The restart forgot the last poll: the next one is judged as a first poll, never slow_down.
      const next = await second.deviceGrants.recordPoll(grant.deviceCodeHash, grant.clientId, t0 + 2000);
      assert.equal(next.kind, 'ok');
      assert.equal(next.kind === 'ok' && next.grant.interval, 10);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
