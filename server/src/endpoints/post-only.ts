import type { FastifyInstance } from 'fastify';
import { methodNotAllowed } from '../errors.ts';

/**
 * Other methods on a POST-only endpoint get 405 with Allow (RFC 9110 §15.5.6), not a 404
 * (docs/security.md AUTHZ-POST-ONLY).
 */
export function refuseOtherMethods(app: FastifyInstance, url: string, allowed = 'POST'): void {
  const methods = ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'].filter((method) => !allowed.split(', ').includes(method));
  app.route({ method: methods, url, handler: async () => { throw methodNotAllowed(allowed); } });
}

/** Token-bearing responses are never stored by caches (RFC 6749 §5.1, RFC 8628 §3.2). */
export const noStore = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;
