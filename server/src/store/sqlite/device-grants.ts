import type Database from 'better-sqlite3';
import { createTurnBatch } from '../turn-batch.ts';
import { UserCodeTakenError, type Decision, type DeviceGrantRecord, type DeviceGrants, type NewDeviceGrant, type PollVerdict } from '../types.ts';
import { joinList, toDeviceGrant, type Batched, type Row } from './columns.ts';
import { createPollState } from './poll-state.ts';

type Poll = { hash: string; clientId: string; now: number };

export function createSqliteDeviceGrants(db: Database.Database): Batched<DeviceGrants> {
  const q = {
    liveByUserCode: db.prepare('SELECT * FROM device_grants WHERE user_code = ? AND expires_at > ?'),
    insert: db.prepare(`INSERT INTO device_grants (id, device_code_hash, user_code, client_id, scopes, device_name,
      device_model, requested_from, push_key, status, created_at, expires_at, interval, resources, trace_parent)
      VALUES (@id, @deviceCodeHash, @userCode, @clientId, @scopes, @deviceName, @deviceModel, @requestedFrom,
      @pushKey, 'pending', @createdAt, @expiresAt, @interval, @resources, @traceParent)`),
    byHash: db.prepare('SELECT * FROM device_grants WHERE device_code_hash = ?'),
    byId: db.prepare('SELECT * FROM device_grants WHERE id = ?'),
    growInterval: db.prepare('UPDATE device_grants SET interval = MAX(interval, @interval) WHERE device_code_hash = @hash'),
    approve: db.prepare(`UPDATE device_grants SET status = 'approved', user_id = @userId, granted_scopes = @scopes,
      auth_time = @authTime, amr = @amr, acr = @acr, decided_at = @now WHERE id = @id AND status = 'pending' AND expires_at > @now`),
    deny: db.prepare(`UPDATE device_grants SET status = 'denied', user_id = @userId, decided_at = @now
      WHERE id = @id AND status = 'pending' AND expires_at > @now`),
    redeem: db.prepare(`UPDATE device_grants SET status = 'redeemed', grant_id = @grantId, dpop_jkt = @jkt
      WHERE id = @id AND status = 'approved' AND expires_at > @now`),
    expiredUnreported: db.prepare(`SELECT * FROM device_grants WHERE expires_at <= ? AND status <> 'redeemed'
      AND expiry_reported = 0 ORDER BY expires_at LIMIT ?`),
    markReported: db.prepare('UPDATE device_grants SET expiry_reported = 1 WHERE id = ?'),
    sweep: db.prepare('DELETE FROM device_grants WHERE expires_at <= ?'),
  };

  // Group commit (../turn-batch.ts): the device grants created in one event-loop turn share one
  // transaction, each still checked for a live user code of the same value before its insert.
  // One commit per device authorization was a third of its CPU time (measured with bench/).
  const createBatch = db.transaction((grants: NewDeviceGrant[]): Array<UserCodeTakenError | undefined> =>
    grants.map((grant) => {
      if (q.liveByUserCode.get(grant.userCode, grant.createdAt)) return new UserCodeTakenError();
      q.insert.run({ ...grant, scopes: joinList(grant.scopes), resources: joinList(grant.resources), traceParent: grant.traceParent ?? null });
      return undefined;
    }),
  );
  const creates = createTurnBatch<NewDeviceGrant>((grants) => createBatch.immediate(grants));

  // Poll accounting lives in this process (poll-state.ts): an in-time poll writes nothing, a
  // slow_down writes its grown interval. Group commit, as for device grants: the polls of one
  // event-loop turn share one transaction, in arrival order (two polls of one code in a turn: the
  // second is too soon). Even with nothing to write this matters: every statement outside a
  // transaction takes and drops SQLite's WAL read lock, which made a lone SELECT cost more than
  // the batched UPDATE it replaced (measured with bench/).
  const pollState = createPollState({
    persistInterval: (hash, interval) => q.growInterval.run({ hash, interval }),
  });
  const pollBatch = db.transaction((polls: Poll[]): PollVerdict[] =>
    polls.map(({ hash, clientId, now }) => {
      const row = q.byHash.get(hash) as Row | undefined;
      return row && row.client_id === clientId ? pollState.record(toDeviceGrant(row), now) : { kind: 'unknown' };
    }),
  );
  const polls = createTurnBatch<Poll, PollVerdict>((batch) => pollBatch.immediate(batch));

  const deviceGrantOf = (row: Row): DeviceGrantRecord => pollState.overlay(toDeviceGrant(row));

  // Reads, then writes: .immediate() (see sqlite-store.ts).
  const claimExpired = db.transaction((now: number, limit: number) => {
    const rows = (q.expiredUnreported.all(now, limit) as Row[]).map(deviceGrantOf);
    for (const row of rows) q.markReported.run(row.id);
    return rows;
  });

  const repository: DeviceGrants = {
    create(grant) {
      return creates.add(grant);
    },
    async findByDeviceCodeHash(hash) {
      const row = q.byHash.get(hash) as Row | undefined;
      return row ? deviceGrantOf(row) : null;
    },
    async findLiveByUserCode(userCode, now) {
      const row = q.liveByUserCode.get(userCode, now) as Row | undefined;
      return row ? deviceGrantOf(row) : null;
    },
    async findById(id) {
      const row = q.byId.get(id) as Row | undefined;
      return row ? deviceGrantOf(row) : null;
    },
    recordPoll(hash, clientId, now) {
      return polls.add({ hash, clientId, now });
    },
    async decide(id, decision: Decision, now) {
      const result =
        decision.status === 'approved'
          ? q.approve.run({ id, now, userId: decision.userId, scopes: joinList(decision.grantedScopes), authTime: decision.authTime, amr: joinList(decision.amr), acr: decision.acr })
          : q.deny.run({ id, now, userId: decision.userId });
      return result.changes === 1;
    },
    async redeem(id, grantId, jkt, now) {
      if (q.redeem.run({ id, grantId, jkt, now }).changes !== 1) return null;
      return deviceGrantOf(q.byId.get(id) as Row);
    },
    async claimExpired(now, limit) {
      return claimExpired.immediate(now, limit);
    },
    async sweep(now, retainSeconds) {
      pollState.prune(now);
      return q.sweep.run(now - retainSeconds * 1000).changes;
    },
  };

  return {
    repository,
    async flush() {
      await creates.flush();
      await polls.flush();
    },
  };
}
