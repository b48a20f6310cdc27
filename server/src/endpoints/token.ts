import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { unauthorizedClient, unsupportedGrantType } from '../errors.js';
import { grantHandlers } from '../grants/index.js';
import type { GrantType } from '../store/types.js';
import { oauthParameters, required } from '../http/form.js';
import { noStore, refuseOtherMethods } from './post-only.js';
import { enforceLimit } from '../services/abuse-limits.js';
import { paths } from './paths.js';

/**
 * The token endpoint authenticates the client and dispatches by grant_type to the table of
 * grant handlers; it knows nothing about any one grant.
 */
export function registerToken(app: FastifyInstance, context: AppContext): void {
  app.post(paths.token, async (request, reply) => {
    // Polls are paced per code by slow_down (RFC 8628 §3.5); this caps one address in all.
    await enforceLimit(context.rateLimits, 'tokenPerAddress', request.ip, { path: paths.token });
    const parameters = oauthParameters(request.body);
    const grantType = required(parameters, 'grant_type');
    const handler = Object.hasOwn(grantHandlers, grantType) ? grantHandlers[grantType as GrantType] : undefined;
    if (!handler) throw unsupportedGrantType(grantType);
    const { client } = await context.authenticateClient(request, parameters);
    if (!client.grantTypes.includes(grantType as GrantType)) {
      throw unauthorizedClient('this client may not use this grant type');
    }
    const response = await handler({ context, request, parameters, client });
    return reply.headers(noStore).send(response);
  });
  refuseOtherMethods(app, paths.token);
}
