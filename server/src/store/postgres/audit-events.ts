import { createTurnBatch } from '../turn-batch.ts';
import type { AuditEventRecord, AuditEvents } from '../types.ts';
import { toAuditEvent, type Database } from './database.ts';

export interface BatchedAuditEvents {
  repository: AuditEvents;
  /** Resolves once every event appended so far is written (close()). */
  flush(): Promise<void>;
}

export function createPostgresAuditEvents({ pool, all }: Database): BatchedAuditEvents {
  // Audit events are written behind the request that records them (services/audit.ts does not
  // block on them; only a decision on a grant waits for its record), so those of one event-loop
  // turn go to the database as one multi-row INSERT (../turn-batch.ts), one round trip for all:
  // a round trip per event was one of the seven of a device authorization (docs/performance.md).
  // While one batch is on the wire the next collects, so under load a batch holds many events.
  // A crash loses at most the events not yet written, as it would lose them before.
  const appends = createTurnBatch<Omit<AuditEventRecord, 'id'>>(async (events) => {
    await pool.query(
      // unnest keeps the statement the same whatever the batch size, and keeps ids (an identity
      // column) in the order the events were recorded.
      'INSERT INTO audit_events (at, event, fields) SELECT * FROM unnest($1::bigint[], $2::text[], $3::jsonb[])',
      [events.map((event) => event.at), events.map((event) => event.event), events.map((event) => JSON.stringify(event.fields))],
    );
  });
  return {
    repository: {
      append(event) {
        return appends.add(event);
      },
      // Ids come from an identity column: increasing in the order rows were inserted, which across
      // instances may differ slightly from the order they commit in. A reader sees every event
      // this instance appended before it asked, queued ones included.
      async list({ afterId = 0, since = 0, limit }) {
        await appends.flush();
        return (await all('SELECT * FROM audit_events WHERE id > $1 AND at >= $2 ORDER BY id LIMIT $3', [afterId, since, limit])).map(
          toAuditEvent,
        );
      },
      async tail(limit) {
        await appends.flush();
        return (
          await all('SELECT * FROM (SELECT * FROM audit_events ORDER BY id DESC LIMIT $1) AS newest ORDER BY id', [limit])
        ).map(toAuditEvent);
      },
    },
    flush: () => appends.flush(),
  };
}
