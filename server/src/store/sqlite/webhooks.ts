import type Database from 'better-sqlite3';
import type { Webhooks } from '../types.ts';
import { joinList, toWebhookDelivery, toWebhookEndpoint, type Row } from './columns.ts';

/** Deliveries not yet settled (neither delivered nor dead). */
const OPEN = 'delivered_at IS NULL AND dead_at IS NULL';

export function createSqliteWebhooks(db: Database.Database): Webhooks {
  const q = {
    addEndpoint: db.prepare('INSERT INTO webhook_endpoints (id, url, sealed_secret, events, created_at) VALUES (?, ?, ?, ?, ?)'),
    listEndpoints: db.prepare('SELECT * FROM webhook_endpoints ORDER BY created_at, id'),
    removeEndpoint: db.prepare('DELETE FROM webhook_endpoints WHERE id = ?'),
    // One row per subscribed endpoint in one statement, so an event reaches all of them or none.
    // The id is the webhook-id receivers deduplicate by: 128 random bits.
    enqueue: db.prepare(`INSERT INTO webhook_deliveries (id, endpoint_id, event_type, ordering_key, payload, created_at, next_attempt_at)
      SELECT 'msg_' || lower(hex(randomblob(16))), id, @eventType, @orderingKey, @payload, @createdAt, @createdAt FROM webhook_endpoints
      WHERE (@endpointId IS NULL OR id = @endpointId)
        AND (' ' || events || ' ' LIKE '% ' || @eventType || ' %' OR ' ' || events || ' ' LIKE '% * %')
      ORDER BY created_at, id`),
    // Due, not leased by a live claim, and first among the open deliveries of its endpoint and
    // ordering key (in order per grant).
    due: db.prepare(`SELECT seq FROM webhook_deliveries AS d
      WHERE ${OPEN} AND next_attempt_at <= @now AND (lease_until IS NULL OR lease_until <= @now)
        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS e
          WHERE e.endpoint_id = d.endpoint_id AND e.ordering_key = d.ordering_key AND e.seq < d.seq AND e.delivered_at IS NULL AND e.dead_at IS NULL)
      ORDER BY seq LIMIT @limit`),
    lease: db.prepare('UPDATE webhook_deliveries SET lease_until = @leaseUntil, lease_owner = @owner, attempts = attempts + 1 WHERE seq = @seq RETURNING *'),
    delivered: db.prepare(`UPDATE webhook_deliveries SET delivered_at = ?, lease_until = NULL, last_error = NULL WHERE id = ? AND lease_owner = ? AND ${OPEN}`),
    failed: db.prepare(`UPDATE webhook_deliveries SET last_error = @error, next_attempt_at = @nextAttemptAt, dead_at = @deadAt, lease_until = NULL
      WHERE id = @id AND lease_owner = @owner AND ${OPEN}`),
    dead: db.prepare('SELECT * FROM webhook_deliveries WHERE dead_at IS NOT NULL ORDER BY dead_at DESC, seq DESC LIMIT ?'),
    sweep: db.prepare('DELETE FROM webhook_deliveries WHERE delivered_at IS NOT NULL AND delivered_at < ?'),
  };
  // Immediate: the claim reads then writes, so it takes the write lock first (sqlite-store.ts).
  const claim = db.transaction((now: number, owner: string, leaseUntil: number, limit: number) =>
    (q.due.all({ now, limit }) as Row[]).map((row) => toWebhookDelivery(q.lease.get({ seq: row.seq, leaseUntil, owner }) as Row)),
  );

  return {
    async addEndpoint(endpoint) {
      q.addEndpoint.run(endpoint.id, endpoint.url, endpoint.sealedSecret, joinList(endpoint.events), endpoint.createdAt);
    },
    async listEndpoints() {
      return (q.listEndpoints.all() as Row[]).map(toWebhookEndpoint);
    },
    async removeEndpoint(id) {
      return q.removeEndpoint.run(id).changes > 0;
    },
    async enqueue(event, endpointId) {
      return q.enqueue.run({ ...event, endpointId: endpointId ?? null }).changes;
    },
    async claim(now, owner, leaseUntil, limit) {
      return claim.immediate(now, owner, leaseUntil, limit);
    },
    async markDelivered(id, owner, now) {
      return q.delivered.run(now, id, owner).changes > 0;
    },
    async markFailed(id, owner, failure) {
      return (
        q.failed.run({ id, owner, error: failure.error.slice(0, 500), nextAttemptAt: failure.nextAttemptAt, deadAt: failure.dead ? failure.now : null }).changes > 0
      );
    },
    async listDeadLetters(limit) {
      return (q.dead.all(limit) as Row[]).map(toWebhookDelivery);
    },
    async sweep(before) {
      return q.sweep.run(before).changes;
    },
  };
}
