import { createHmac } from 'node:crypto';
import { constantTimeEqual, randomId } from '../secrets.ts';

/**
 * "This browser signed in to this account before" (docs/security.md SIGN-IN-NO-LOCKOUT), the
 * device-cookie defence OWASP recommends against account lockout: after a successful sign-in the
 * pages keep a ticket, `<random id>.<HMAC of the account and the id>`; a later sign-in to the same
 * account from that browser is counted in a bucket of its own, so failures an attacker makes from
 * anywhere else cannot lock the owner out. The key is derived from the master key (no state, every
 * instance sharing it accepts the tickets).
 */
export function createKnownBrowsers(deps: { secret: Buffer }) {
  const mac = (accountKey: string, browserId: string) =>
    createHmac('sha256', deps.secret).update(`known-browser:${browserId}:${accountKey}`, 'utf8').digest('base64url');
  return {
    issue(accountKey: string): string {
      const browserId = randomId();
      return `${browserId}.${mac(accountKey, browserId)}`;
    },
    /** The browser's id when the ticket was issued for this account, else null. */
    open(ticket: string, accountKey: string): string | null {
      const dot = ticket.indexOf('.');
      if (dot <= 0 || ticket.length > 128) return null;
      const browserId = ticket.slice(0, dot);
      return constantTimeEqual(ticket.slice(dot + 1), mac(accountKey, browserId)) ? browserId : null;
    },
  };
}

export type KnownBrowsers = ReturnType<typeof createKnownBrowsers>;
