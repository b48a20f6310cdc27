import type { FastifyRequest } from 'fastify';
import { OAuthError, tooManyRequests } from '../errors.ts';
import type { AuditFields } from './audit.ts';
import type { LimitName, RateLimits } from './rate-limits.ts';

/**
 * The endpoints' side of the abuse limits: one call at the top of a handler spends a point and
 * throws the 429 (Retry-After, JSON `slow_down` body, rendered by the one error handler) when the
 * bucket is empty. The refusal itself becomes an audit event inside RateLimits.
 */
export async function enforceLimit(
  rateLimits: RateLimits,
  name: LimitName,
  key: string,
  fields: AuditFields = {},
): Promise<void> {
  const verdict = await rateLimits.consume(name, key, { fields });
  if (!verdict.allowed) {
    throw tooManyRequests(`too many requests; try again in ${verdict.retryAfterSeconds} seconds`, verdict.retryAfterSeconds);
  }
}

/**
 * The client a request claims to be, before any authentication, so a limit can be spent before
 * the expensive part (a store lookup, an argon2 verification). Bounded, and only ever a key of a
 * limit that also names the address, so claiming another client's id spends only one's own budget.
 */
function claimedClientId(request: FastifyRequest, parameters: Record<string, string>): string {
  let clientId: string | undefined = parameters.client_id;
  const authorization = request.headers.authorization;
  if (!clientId && typeof authorization === 'string') {
    const match = /^Basic\s+([A-Za-z0-9+/=._~-]{1,1024})\s*$/i.exec(authorization);
    if (match) {
      const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        try {
          clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
        } catch {
          clientId = undefined;
        }
      }
    }
  }
  // Keys are printable and short: they end up in the audit record and in counter stores.
  return clientId ? clientId.slice(0, 128).replace(/[^\x21-\x7e]/g, '?') : '-';
}

/** `client_id address`, the key of the per-client-and-address buckets. */
export const clientAndAddress = (request: FastifyRequest, parameters: Record<string, string>) =>
  `${claimedClientId(request, parameters)} ${request.ip}`;

/** True when the request carries a client credential (Basic, client_secret, client_assertion). */
function presentsCredential(request: FastifyRequest, parameters: unknown): boolean {
  const authorization = request.headers.authorization;
  if (typeof authorization === 'string' && /^basic(?:\s|$)/i.test(authorization.trim())) return true;
  const named = (parameters ?? {}) as Record<string, unknown>;
  return named.client_secret !== undefined || named.client_assertion !== undefined;
}

/**
 * Wraps the client authenticator: every failed client authentication that presented a credential
 * (a secret or an assertion) spends a point of `clientAuthenticationFailuresPerAddress`; once it
 * is empty, such requests from that address get 429 before any secret is checked. That ends
 * online guessing of client secrets and stops unknown clients from burning argon2 time (each
 * failure costs the same hash work by design). A public client naming itself presents nothing to
 * guess and costs nothing, so it neither counts nor is held back: devices behind the same NAT as
 * a misconfigured one keep working.
 */
export function limitClientAuthenticationFailures<Args extends [FastifyRequest, ...unknown[]], Result>(
  authenticate: (...args: Args) => Promise<Result>,
  rateLimits: RateLimits,
): (...args: Args) => Promise<Result> {
  return async (...args) => {
    const request = args[0];
    if (!presentsCredential(request, args[1])) return authenticate(...args);
    const fields = { path: request.routeOptions.url ?? null };
    if (!(await rateLimits.peek('clientAuthenticationFailuresPerAddress', request.ip)).allowed) {
      // Spending on the empty bucket is what records the refusal (once per window) in the audit log.
      const verdict = await rateLimits.consume('clientAuthenticationFailuresPerAddress', request.ip, { fields });
      if (!verdict.allowed) {
        throw tooManyRequests(`too many failed client authentications; try again in ${verdict.retryAfterSeconds} seconds`, verdict.retryAfterSeconds);
      }
    }
    try {
      return await authenticate(...args);
    } catch (error) {
      if (error instanceof OAuthError && error.error === 'invalid_client') {
        await rateLimits.consume('clientAuthenticationFailuresPerAddress', request.ip, { fields });
      }
      throw error;
    }
  };
}
