import type { AuditObserver } from '../services/audit.ts';
import type { Metrics } from './metrics.ts';

/**
 * The counters that follow security events as the audit log records them: each abuse-limit bucket
 * tipped over (its `limit` field names the bucket) and each refresh token reuse. The audit event
 * is already the one place these are recorded, so counting them here needs no second call site.
 */
export function countAuditEvents(metrics: Metrics): AuditObserver {
  return (event, fields) => {
    if (!metrics.enabled) return;
    if (event === 'rate_limited' && typeof fields.limit === 'string') metrics.rateLimited(fields.limit);
    else if (event === 'refresh_token_reuse_detected' && typeof fields.clientId === 'string') metrics.refreshTokenReuse(fields.clientId);
  };
}
