import type { Webhooks } from '../types.ts';
import { toWebhookDelivery, toWebhookEndpoint, type Database } from './database.ts';

/** Deliveries not yet settled (neither delivered nor dead). */
const OPEN = 'delivered_at IS NULL AND dead_at IS NULL';

export function createPostgresWebhooks({ one, all, changes }: Database): Webhooks {
  return {
    async addEndpoint(endpoint) {
      await changes('INSERT INTO webhook_endpoints (id, url, sealed_secret, events, created_at) VALUES ($1, $2, $3, $4, $5)', [
        endpoint.id,
        endpoint.url,
        endpoint.sealedSecret,
        endpoint.events,
        endpoint.createdAt,
      ]);
    },
    async listEndpoints() {
      return (await all('SELECT * FROM webhook_endpoints ORDER BY created_at, id')).map(toWebhookEndpoint);
    },
    async removeEndpoint(id) {
      return (await changes('DELETE FROM webhook_endpoints WHERE id = $1', [id])) > 0;
    },
    // One row per subscribed endpoint in one statement, so an event reaches all of them or none.
    // The id is the webhook-id receivers deduplicate by: a random UUID (128 bits, 122 random).
    async enqueue(event, endpointId) {
      return changes(
        `INSERT INTO webhook_deliveries (id, endpoint_id, event_type, ordering_key, payload, created_at, next_attempt_at)
         SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), id, $1, $2, $3, $4, $4 FROM webhook_endpoints
         WHERE ($5::text IS NULL OR id = $5) AND ($1 = ANY (events) OR '*' = ANY (events))
         ORDER BY created_at, id`,
        [event.eventType, event.orderingKey, event.payload, event.createdAt, endpointId ?? null],
      );
    },
    // FOR UPDATE SKIP LOCKED: instances claiming at once each take different rows, none waits on
    // another's; the lease then keeps a claimed row from every other instance until it settles
    // or its instance is gone for `webhooks.lease` seconds. A delivery is due only when no earlier
    // open one of its endpoint and ordering key exists (in order per grant), leased ones included.
    async claim(now, owner, leaseUntil, limit) {
      return (
        await all(
          `WITH due AS (
             SELECT seq FROM webhook_deliveries AS d
             WHERE ${OPEN} AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS e
                 WHERE e.endpoint_id = d.endpoint_id AND e.ordering_key = d.ordering_key AND e.seq < d.seq
                   AND e.delivered_at IS NULL AND e.dead_at IS NULL)
             ORDER BY seq LIMIT $4
             FOR UPDATE SKIP LOCKED
           )
           UPDATE webhook_deliveries AS w SET lease_until = $3, lease_owner = $2, attempts = attempts + 1
           FROM due WHERE w.seq = due.seq
             AND (w.lease_until IS NULL OR w.lease_until <= $1) AND w.delivered_at IS NULL AND w.dead_at IS NULL
           RETURNING w.*`,
          [now, owner, leaseUntil, limit],
        )
      )
        .map(toWebhookDelivery)
        .sort((a, b) => a.seq - b.seq);
    },
    async markDelivered(id, owner, now) {
      return (await changes(`UPDATE webhook_deliveries SET delivered_at = $1, lease_until = NULL, last_error = NULL WHERE id = $2 AND lease_owner = $3 AND ${OPEN}`, [now, id, owner])) > 0;
    },
    async markFailed(id, owner, failure) {
      return (
        (await changes(
          `UPDATE webhook_deliveries SET last_error = $3, next_attempt_at = $4, dead_at = $5, lease_until = NULL WHERE id = $1 AND lease_owner = $2 AND ${OPEN}`,
          [id, owner, failure.error.slice(0, 500), failure.nextAttemptAt, failure.dead ? failure.now : null],
        )) > 0
      );
    },
    async listDeadLetters(limit) {
      return (await all('SELECT * FROM webhook_deliveries WHERE dead_at IS NOT NULL ORDER BY dead_at DESC, seq DESC LIMIT $1', [limit])).map(toWebhookDelivery);
    },
    async sweep(before) {
      return changes('DELETE FROM webhook_deliveries WHERE delivered_at IS NOT NULL AND delivered_at < $1', [before]);
    },
  };
}
