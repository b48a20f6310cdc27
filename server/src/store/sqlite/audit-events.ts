import type Database from 'better-sqlite3';
import { createTurnBatch } from '../turn-batch.ts';
import type { AuditEventRecord, AuditEvents } from '../types.ts';
import { toAuditEvent, type Batched, type Row } from './columns.ts';

export function createSqliteAuditEvents(db: Database.Database): Batched<AuditEvents> {
  const q = {
    insert: db.prepare('INSERT INTO audit_events (at, event, fields) VALUES (?, ?, ?)'),
    list: db.prepare('SELECT * FROM audit_events WHERE id > ? AND at >= ? ORDER BY id LIMIT ?'),
    tail: db.prepare('SELECT * FROM (SELECT * FROM audit_events ORDER BY id DESC LIMIT ?) ORDER BY id'),
  };

  // Audit events are written behind the request that records them (services/audit.ts does not
  // block on them; only a decision on a grant waits for its record), so those of one event-loop
  // turn share one transaction (../turn-batch.ts): a commit per event was a tenth of a device
  // authorization's CPU time (measured with bench/). A crash loses at most the events of the turn
  // it happens in, as it would lose the unwritten ones before.
  const insertBatch = db.transaction((events: Array<Omit<AuditEventRecord, 'id'>>) => {
    for (const event of events) q.insert.run(event.at, event.event, JSON.stringify(event.fields));
  });
  const appends = createTurnBatch<Omit<AuditEventRecord, 'id'>>((events) => insertBatch(events));

  return {
    repository: {
      append(event) {
        return appends.add(event);
      },
      // A reader sees every event appended before it asked, queued ones included.
      async list({ afterId = 0, since = 0, limit }) {
        await appends.flush();
        return (q.list.all(afterId, since, limit) as Row[]).map(toAuditEvent);
      },
      async tail(limit) {
        await appends.flush();
        return (q.tail.all(limit) as Row[]).map(toAuditEvent);
      },
    },
    flush: () => appends.flush(),
  };
}
