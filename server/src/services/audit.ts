import type { Logger } from 'pino';

/**
 * Security events (device authorized, approved, denied, tokens issued, refresh reuse, revoked,
 * sign-in failed, ...). Written as structured log lines tagged `audit: true`; never a secret in
 * them: callers pass identifiers (client id, grant id, user id), never codes or tokens.
 */
export type AuditEvent =
  | 'device_authorized'
  | 'device_approved'
  | 'device_denied'
  | 'tokens_issued'
  | 'refresh_token_rotated'
  | 'refresh_token_reuse_detected'
  | 'grant_revoked'
  | 'token_revoked'
  | 'sign_in_succeeded'
  | 'sign_in_failed'
  | 'rate_limited'
  | 'user_code_rejected';

export interface AuditLog {
  record(event: AuditEvent, fields: Record<string, string | number | boolean | null | undefined>): void;
}

export function createLoggerAuditLog(logger: Logger): AuditLog {
  const child = logger.child({ audit: true });
  return {
    record(event, fields) {
      const level = event === 'refresh_token_reuse_detected' ? 'warn' : 'info';
      child[level]({ event, ...fields }, event);
    },
  };
}
