import type { ApprovalService, PendingApproval } from '../device-grants/decisions.ts';
import type { AuditLog } from './audit.ts';
import type { RateLimits } from './rate-limits.ts';
import type { UserCodeGuessAlarm } from './user-code-alarm.ts';

export type UserCodeLookup =
  | { kind: 'found'; pending: PendingApproval }
  /**
   * Unknown, expired, already decided or of a blocked client: one answer for all
   * (docs/security.md CODE-NO-ORACLE).
   */
  | { kind: 'not_found' }
  | { kind: 'throttled'; retryAfterSeconds: number };

/**
 * The one way the verification pages turn what a person typed into a pending device grant, with
 * the brute-force limits of RFC 8628 §5.1 around it: every entry spends a point per address and
 * per browser session (10 a minute by default), while the global guess alarm is active it spends
 * `tightenFactor` points, every miss counts toward the alarm, and once the misses of a window reach
 * the alarm's `maxFailures` code entry is closed until the window ends. A miss is recorded as
 * `user_code_rejected` with the address only: the typed code is never written anywhere.
 */
export function createUserCodeEntry(deps: {
  approval: ApprovalService;
  rateLimits: RateLimits;
  alarm: UserCodeGuessAlarm;
  audit: AuditLog;
  tightenFactor: number;
}) {
  async function lookup(typed: string, who: { address: string; sessionId?: string | null }): Promise<UserCodeLookup> {
    // The cap on the total (CODE-GUESSING): past it no code is looked up until the window ends.
    const closedFor = await deps.alarm.closedFor();
    if (closedFor !== null) return { kind: 'throttled', retryAfterSeconds: closedFor };
    const cost = (await deps.alarm.active()) ? deps.tightenFactor : 1;
    const fields = { address: who.address, alarm: cost > 1 };
    const byAddress = await deps.rateLimits.consume('userCodeEntryPerAddress', who.address, { cost, fields });
    if (!byAddress.allowed) return { kind: 'throttled', retryAfterSeconds: byAddress.retryAfterSeconds };
    if (who.sessionId) {
      const bySession = await deps.rateLimits.consume('userCodeEntryPerSession', who.sessionId, { cost, fields });
      if (!bySession.allowed) return { kind: 'throttled', retryAfterSeconds: bySession.retryAfterSeconds };
    }
    const pending = await deps.approval.findPending(typed);
    if (pending) return { kind: 'found', pending };
    deps.audit.record('user_code_rejected', { address: who.address });
    await deps.alarm.recordFailure();
    return { kind: 'not_found' };
  }

  return { lookup };
}

export type UserCodeEntry = ReturnType<typeof createUserCodeEntry>;
