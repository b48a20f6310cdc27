import type { AuditEvent, AuditFieldValue, AuditObserver } from '../services/audit.ts';
import type { NewWebhookEvent, Webhooks } from '../store/types.ts';

/**
 * The grant and security events a webhook can receive, by the audit event they follow. Their
 * data are the audit record's fields (identifiers, never a secret: services/audit.ts redacts).
 */
export const webhookEventTypes = {
  device_approved: 'device.approved',
  device_denied: 'device.denied',
  tokens_issued: 'tokens.issued',
  grant_revoked: 'device.signed_out',
  refresh_token_reuse_detected: 'refresh_token.reuse_detected',
  user_code_guess_alarm: 'user_code.guess_alarm',
  client_blocked: 'client.blocked',
} as const satisfies Partial<Record<AuditEvent, string>>;

export const WEBHOOK_EVENT_TYPES: readonly string[] = [...Object.values(webhookEventTypes), 'webhook.test'];

/**
 * The outbox row for one event: a Standard Webhooks body (`type`, `timestamp`, `data`), ordered
 * by the device grant while there is one (approval, then tokens) and by the token family after
 * (sign-out, reuse); events of no grant (alarm, client blocked) share one order.
 */
export function webhookEvent(type: string, fields: Record<string, AuditFieldValue>, at: number): NewWebhookEvent {
  const key = fields.deviceGrantId ?? fields.grantId;
  return {
    eventType: type,
    orderingKey: typeof key === 'string' ? key : '',
    payload: JSON.stringify({ type, timestamp: new Date(at).toISOString(), data: fields }),
    createdAt: at,
  };
}

/** Enqueues the audit events webhooks receive; the record waits for the outbox row. */
export function enqueueWebhookEvents(webhooks: Webhooks, onEnqueued?: () => void): AuditObserver {
  return async (event, fields, at) => {
    const type = (webhookEventTypes as Partial<Record<AuditEvent, string>>)[event];
    if (!type) return;
    if ((await webhooks.enqueue(webhookEvent(type, fields, at))) > 0) onEnqueued?.();
  };
}
