import type { ApprovalService, PendingApproval } from '../device-grants/decisions.ts';
import type { AuditLog } from './audit.ts';
import type { LimitName, RateLimits } from './rate-limits.ts';
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
 * per browser session (10 a minute by default), or per calling client for the approval API; while
 * the global guess alarm is active it spends `tightenFactor` points, every miss counts toward the
 * alarm, and once the misses of a window reach the alarm's `maxFailures` code entry is closed until
 * the window ends. A miss is recorded as
 * `user_code_rejected` with the address only: the typed code is never written anywhere.
 */
export function createUserCodeEntry(deps: {
  approval: ApprovalService;
  rateLimits: RateLimits;
  alarm: UserCodeGuessAlarm;
  audit: AuditLog;
  tightenFactor: number;
}) {
  async function lookup(
    typed: string,
    who: { address: string; sessionId?: string | null; clientId?: never } | { address: string; clientId: string; sessionId?: never },
    options: { accept?: (pending: PendingApproval) => boolean } = {},
  ): Promise<UserCodeLookup> {
    // The cap on the total (CODE-GUESSING): past it no code is looked up until the window ends.
    const closedFor = await deps.alarm.closedFor();
    if (closedFor !== null) return { kind: 'throttled', retryAfterSeconds: closedFor };
    const cost = (await deps.alarm.active()) ? deps.tightenFactor : 1;
    const fields = { address: who.address, alarm: cost > 1, clientId: who.clientId };
    // A product's site (the approval API) speaks for many people from one address: its guesses are
    // counted per calling client instead of per address and browser session.
    const buckets: Array<[LimitName, string]> = who.clientId
      ? [['userCodeEntryPerClient', who.clientId]]
      : [['userCodeEntryPerAddress', who.address], ...(who.sessionId ? ([['userCodeEntryPerSession', who.sessionId]] as Array<[LimitName, string]>) : [])];
    for (const [name, key] of buckets) {
      const verdict = await deps.rateLimits.consume(name, key, { cost, fields });
      if (!verdict.allowed) return { kind: 'throttled', retryAfterSeconds: verdict.retryAfterSeconds };
    }
    const pending = await deps.approval.findPending(typed);
    // A code the caller may not decide (another product's device) is a miss like an unknown one.
    if (pending && (options.accept?.(pending) ?? true)) return { kind: 'found', pending };
    deps.audit.record('user_code_rejected', { address: who.address, clientId: who.clientId });
    await deps.alarm.recordFailure();
    return { kind: 'not_found' };
  }

  return { lookup };
}

export type UserCodeEntry = ReturnType<typeof createUserCodeEntry>;
