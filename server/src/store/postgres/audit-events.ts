import type { AuditEvents } from '../types.ts';
import { toAuditEvent, type Database } from './database.ts';

export function createPostgresAuditEvents({ pool, all }: Database): AuditEvents {
  return {
    async append(event) {
      await pool.query('INSERT INTO audit_events (at, event, fields) VALUES ($1, $2, $3)', [
        event.at,
        event.event,
        JSON.stringify(event.fields),
      ]);
    },
    // Ids come from an identity column: increasing in the order rows were inserted, which across
    // instances may differ slightly from the order they commit in.
    async list({ afterId = 0, since = 0, limit }) {
      return (await all('SELECT * FROM audit_events WHERE id > $1 AND at >= $2 ORDER BY id LIMIT $3', [afterId, since, limit])).map(
        toAuditEvent,
      );
    },
    async tail(limit) {
      return (
        await all('SELECT * FROM (SELECT * FROM audit_events ORDER BY id DESC LIMIT $1) AS newest ORDER BY id', [limit])
      ).map(toAuditEvent);
    },
  };
}
