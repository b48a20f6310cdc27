import { pollSql } from '../../device-grants/pacing.ts';
import { createTurnBatch } from '../turn-batch.ts';
import { UserCodeTakenError, type Decision, type DeviceGrants, type NewDeviceGrant, type PollVerdict } from '../types.ts';
import { toDeviceGrant, type Database } from './database.ts';

/**
 * RFC 8628 §3.5 (the rule: ../../device-grants/pacing.ts), in one statement for all the polls of
 * an event-loop turn (../turn-batch.ts): every SET expression reads the row as it was before this
 * poll, and the row lock makes concurrent polls of one code on several instances take turns, each
 * judged against the poll before it. The verdict is written to the row so RETURNING can report
 * it. One round trip per turn, where each poll was one (docs/performance.md#postgresql-round-trips).
 */
const pacing = pollSql({ status: 'g.status', interval: 'g.poll_interval', lastPolledAt: 'g.last_polled_at' }, 'p.now');
const RECORD_POLLS = `UPDATE device_grants AS g SET
     last_polled_at = p.now,
     last_poll_slow_down = ${pacing.slowDown},
     poll_interval = ${pacing.interval}
   FROM unnest($1::text[], $2::bigint[], $3::text[]) AS p(hash, now, client)
   WHERE g.device_code_hash = p.hash AND g.client_id = p.client
   RETURNING g.*`;

/**
 * The device grants of an event-loop turn in one statement (../turn-batch.ts). A user code is
 * unique among live grants only; an expired holder keeps its row (a late poll still answers
 * expired_token) while its code may be handed out again. So the uniqueness lives in
 * user_code_claim (a unique index), which the newest grant of a code holds: the statement frees
 * the claim of expired holders and inserts, and a concurrent creator of the same code (another
 * instance, or a second grant of this batch) either waits on the holder's row lock and then
 * finds the claim gone, or meets the new claim in the unique index (ON CONFLICT DO NOTHING): no
 * row, the code is taken, and that caller alone is told. One round trip per turn, where BEGIN, an
 * advisory lock, the INSERT and COMMIT were four per grant (docs/performance.md#postgresql-round-trips).
 *
 * The freeing UPDATE is read by the INSERT's FROM, so it runs to completion first (a
 * data-modifying WITH nobody reads would run after the main statement); the INSERT's unique check
 * does not count a row version this statement itself replaced. The grants travel as one JSON
 * array (jsonb_to_recordset turns its lists into text[]), which keeps the statement the same
 * whatever the batch size.
 */
const CREATE_GRANTS = `WITH items AS (
     SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(ord integer, id text, "deviceCodeHash" text, "userCode" text,
       "clientId" text, scopes text[], "deviceName" text, "deviceModel" text, "requestedFrom" text, "pushKey" text,
       "createdAt" bigint, "expiresAt" bigint, "interval" integer, resources text[], "traceParent" text)
   ), freed AS (
     UPDATE device_grants AS d SET user_code_claim = NULL
     FROM items AS i
     WHERE d.user_code_claim = i."userCode" AND d.expires_at <= i."createdAt"
     RETURNING 1
   )
   INSERT INTO device_grants (id, device_code_hash, user_code, client_id, scopes, device_name, device_model,
     requested_from, push_key, status, created_at, expires_at, poll_interval, resources, trace_parent, user_code_claim)
   SELECT i.id, i."deviceCodeHash", i."userCode", i."clientId", i.scopes, i."deviceName", i."deviceModel", i."requestedFrom",
     i."pushKey", 'pending', i."createdAt", i."expiresAt", i."interval", i.resources, i."traceParent", i."userCode"
   FROM items AS i, (SELECT count(*) FROM freed) AS freed_count
   -- Rows of instances of the previous release hold no claim (migration 17).
   WHERE NOT EXISTS (SELECT 1 FROM device_grants AS o WHERE o.user_code = i."userCode" AND o.expires_at > i."createdAt")
   ORDER BY i.ord
   ON CONFLICT (user_code_claim) DO NOTHING
   RETURNING id`;

interface Poll {
  hash: string;
  clientId: string;
  now: number;
}

export function createPostgresDeviceGrants({ one, all, changes }: Database): { repository: DeviceGrants; flush(): Promise<void> } {
  const polls = createTurnBatch<Poll, PollVerdict>(async (batch) => {
    const verdicts: PollVerdict[] = new Array(batch.length);
    let waiting = batch.map((poll, index) => ({ poll, index }));
    // One statement updates a row once: a code polled twice in one turn goes again in the next
    // statement, so it is judged against the poll before it, as on another instance.
    while (waiting.length > 0) {
      const seen = new Set<string>();
      const round: typeof waiting = [];
      const later: typeof waiting = [];
      for (const entry of waiting) {
        if (seen.has(entry.poll.hash)) later.push(entry);
        else {
          seen.add(entry.poll.hash);
          round.push(entry);
        }
      }
      const rows = await all(RECORD_POLLS, [
        round.map((entry) => entry.poll.hash),
        round.map((entry) => entry.poll.now),
        round.map((entry) => entry.poll.clientId),
      ]);
      const byHash = new Map(rows.map((row) => [row.device_code_hash as string, row]));
      for (const { poll, index } of round) {
        const row = byHash.get(poll.hash);
        verdicts[index] = row ? { kind: row.last_poll_slow_down ? 'slow_down' : 'ok', grant: toDeviceGrant(row) } : { kind: 'unknown' };
      }
      waiting = later;
    }
    return verdicts;
  });
  const creates = createTurnBatch<NewDeviceGrant, void>(async (grants) => {
    const inserted = new Set(
      (await all(CREATE_GRANTS, [JSON.stringify(grants.map((grant, ord) => ({ ord, ...grant, traceParent: grant.traceParent ?? null })))])).map(
        (row) => row.id as string,
      ),
    );
    return grants.map((grant) => (inserted.has(grant.id) ? undefined : new UserCodeTakenError()));
  });
  const repository: DeviceGrants = {
    create(grant: NewDeviceGrant) {
      return creates.add(grant);
    },
    async findByDeviceCodeHash(hash) {
      const row = await one('SELECT * FROM device_grants WHERE device_code_hash = $1', [hash]);
      return row ? toDeviceGrant(row) : null;
    },
    async findLiveByUserCode(userCode, now) {
      const row = await one('SELECT * FROM device_grants WHERE user_code = $1 AND expires_at > $2', [userCode, now]);
      return row ? toDeviceGrant(row) : null;
    },
    async findById(id) {
      const row = await one('SELECT * FROM device_grants WHERE id = $1', [id]);
      return row ? toDeviceGrant(row) : null;
    },
    recordPoll(hash, clientId, now): Promise<PollVerdict> {
      return polls.add({ hash, clientId, now });
    },
    async decide(id, decision: Decision, now) {
      const moved =
        decision.status === 'approved'
          ? await changes(
              `UPDATE device_grants SET status = 'approved', user_id = $2, granted_scopes = $3, auth_time = $4,
                 decided_at = $5, amr = $6, acr = $7 WHERE id = $1 AND status = 'pending' AND expires_at > $5`,
              [id, decision.userId, decision.grantedScopes, decision.authTime, now, decision.amr, decision.acr],
            )
          : await changes(
              `UPDATE device_grants SET status = 'denied', user_id = $2, decided_at = $3
               WHERE id = $1 AND status = 'pending' AND expires_at > $3`,
              [id, decision.userId, now],
            );
      return moved === 1;
    },
    async redeem(id, grantId, jkt, now) {
      // RFC 8628 §3.5: one winner. Concurrent callers wait on the row lock, then re-check the
      // WHERE against the committed row ('redeemed') and match nothing.
      const row = await one(
        `UPDATE device_grants SET status = 'redeemed', grant_id = $2, dpop_jkt = $3
         WHERE id = $1 AND status = 'approved' AND expires_at > $4 RETURNING *`,
        [id, grantId, jkt, now],
      );
      return row ? toDeviceGrant(row) : null;
    },
    async claimExpired(now, limit) {
      // Several instances sweep at once: SKIP LOCKED hands each row to one of them, and the
      // flag, set in the same statement, keeps it from being reported again.
      const rows = await all(
        `UPDATE device_grants SET expiry_reported = true
         WHERE id IN (
           SELECT id FROM device_grants
           WHERE expires_at <= $1 AND status <> 'redeemed' AND NOT expiry_reported
           ORDER BY expires_at LIMIT $2
           FOR UPDATE SKIP LOCKED)
         RETURNING *`,
        [now, limit],
      );
      return rows.map(toDeviceGrant).sort((a, b) => a.expiresAt - b.expiresAt);
    },
    async sweep(now, retainSeconds) {
      return changes('DELETE FROM device_grants WHERE expires_at <= $1', [now - retainSeconds * 1000]);
    },
  };
  return { repository, flush: async () => void (await Promise.all([creates.flush(), polls.flush()])) };
}
