import type { Logger } from 'pino';
import { systemClock, type Clock } from '../clock.ts';
import type { AuditEvents } from '../store/types.ts';

/**
 * Security events (device authorized, approved, denied, tokens issued, refresh reuse, revoked,
 * sign-in failed, rate limit hit, guess alarm, ...). Each is a structured log line tagged
 * `audit: true` and, when a store is given, a row in the append-only audit table, which
 * `devicegate audit tail|export` reads. Never a secret in them: callers pass identifiers (client
 * id, grant id, user id, address), never codes or tokens; fields whose names or values look like
 * credentials are redacted here as well, should a future caller slip.
 */
export type AuditEvent =
  | 'device_authorized'
  | 'device_approved'
  | 'device_denied'
  | 'tokens_issued'
  | 'device_code_redemption_retried'
  | 'refresh_token_rotated'
  | 'refresh_token_retried'
  | 'refresh_token_reuse_detected'
  | 'token_exchanged'
  | 'grant_revoked'
  | 'token_revoked'
  | 'sign_in_succeeded'
  | 'sign_in_failed'
  | 'user_created'
  | 'rate_limited'
  | 'user_code_rejected'
  | 'user_code_guess_alarm'
  | 'user_code_entry_closed'
  | 'client_registered'
  | 'device_authorization_refused'
  | 'approval_refused_network'
  | 'client_blocked'
  | 'client_unblocked'
  | 'approval_api_called'
  | 'passkey_registered'
  | 'passkey_removed';

export type AuditFieldValue = string | number | boolean | null;
export type AuditFields = Record<string, AuditFieldValue | undefined>;

export interface AuditLog {
  /**
   * Never throws and never blocks the caller: the store write runs behind and its failure is
   * logged. The promise (which never rejects) settles once the event is stored, for the few
   * callers that must not answer before their record is durable (a decision on a grant).
   */
  record(event: AuditEvent, fields: AuditFields): Promise<void>;
  /** Resolves once every event recorded so far has reached the store (shutdown, tests). */
  flush?(): Promise<void>;
}

/** Names that may carry a credential: device_code, user_code, *token*, password, secret, ... */
const SECRET_NAME = /pass(word)?|secret|token|code|cookie|authorization|assertion|proof|dpop|session/i;
/** Values shaped like a JWT or a long opaque credential never belong in the record. */
const SECRET_VALUE = /^[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*$/;
const MAX_TEXT = 200;

/** The fields as stored: undefined dropped, credentials redacted, text bounded. */
export function auditFields(fields: AuditFields): Record<string, AuditFieldValue> {
  const out: Record<string, AuditFieldValue> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (SECRET_NAME.test(name) && typeof value === 'string') {
      out[name] = '[redacted]';
    } else if (typeof value === 'string') {
      out[name] = SECRET_VALUE.test(value) ? '[redacted]' : value.length > MAX_TEXT ? `${value.slice(0, MAX_TEXT)}…` : value;
    } else {
      out[name] = value;
    }
  }
  return out;
}

const LEVELS: Partial<Record<AuditEvent, 'warn' | 'error'>> = {
  refresh_token_reuse_detected: 'warn',
  rate_limited: 'warn',
  client_blocked: 'warn',
  // docs/security.md CODE-GUESSING: a distributed guess of user codes is an incident, not a
  // statistic.
  user_code_guess_alarm: 'error',
  // CODE-GUESSING's cap: code entry is closed for everyone until the window ends.
  user_code_entry_closed: 'error',
  // Cross-device phishing controls refusing: a phisher at work, or a control set too tight.
  device_authorization_refused: 'warn',
  approval_refused_network: 'warn',
};

/**
 * Something else told of each event as it is recorded (metrics count some, webhooks enqueue some).
 * The event's record waits for the promise it may return, so a webhook's outbox row is written
 * before a decision is answered.
 */
export type AuditObserver = (event: AuditEvent, fields: Record<string, AuditFieldValue>, at: number) => void | Promise<void>;

export function createAuditLog(deps: { logger: Logger; clock?: Clock; events?: AuditEvents; observers?: AuditObserver[] }): AuditLog {
  const child = deps.logger.child({ audit: true });
  const clock = deps.clock ?? systemClock;
  const pending = new Set<Promise<void>>();
  const observers = deps.observers ?? [];
  return {
    record(event, fields) {
      const clean = auditFields(fields);
      child[LEVELS[event] ?? 'info']({ event, ...clean }, event);
      const at = clock.now();
      let observed: Promise<unknown> | undefined;
      for (const observe of observers) {
        try {
          const result = observe(event, clean, at);
          if (result) observed = observed ? Promise.all([observed, result]) : result;
        } catch (error) {
          child.error({ err: error, event }, 'audit observer failed');
        }
      }
      if (!deps.events && !observed) return Promise.resolve();
      // A failed audit write must not fail the request it describes; it is logged instead.
      const write = Promise.resolve()
        .then(async () => {
          await Promise.all([deps.events?.append({ at, event, fields: clean }), observed]);
        })
        .catch((error: unknown) => child.error({ err: error, event }, 'audit event not stored'))
        .finally(() => pending.delete(write));
      pending.add(write);
      return write;
    },
    async flush() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}
