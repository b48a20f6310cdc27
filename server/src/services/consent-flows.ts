import { createHmac } from 'node:crypto';
import { constantTimeEqual } from '../secrets.ts';

/**
 * The proof that a browser typed a device request's user code (docs/security.md CONSENT-BOUND).
 * Code entry hands the pages a ticket, `<request id>.<HMAC of it>`, kept in the HttpOnly flow
 * cookie; consent opens the ticket and decides only the request it names. The request id alone
 * (in the consent form, in the done page's URL, in a log) is not enough, so another signed-in
 * account that learns it cannot approve as itself, and every approval went through code entry,
 * with its guess limits and its audit. The key is derived from the master key, so every instance
 * sharing it accepts the tickets of the others, with no shared state.
 */
export function createConsentFlows(deps: { secret: Buffer }) {
  const mac = (requestId: string) => createHmac('sha256', deps.secret).update(`consent-flow:${requestId}`, 'utf8').digest('base64url');
  return {
    issue(requestId: string): string {
      return `${requestId}.${mac(requestId)}`;
    },
    /** The request id a ticket names, or null for anything this appliance did not issue. */
    open(ticket: string): string | null {
      const dot = ticket.lastIndexOf('.');
      if (dot <= 0 || ticket.length > 128) return null;
      const requestId = ticket.slice(0, dot);
      return constantTimeEqual(ticket.slice(dot + 1), mac(requestId)) ? requestId : null;
    },
  };
}

export type ConsentFlows = ReturnType<typeof createConsentFlows>;
