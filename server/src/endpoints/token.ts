import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.ts';
import { dpopRequired } from '../dpop/errors.ts';
import { unauthorizedClient, unsupportedGrantType } from '../errors.ts';
import { grantOfType } from '../grants/index.ts';
import { admitOrigin } from '../http/cors.ts';
import { oauthParameters, parameterValues, required } from '../http/form.ts';
import { noStore, refuseOtherMethods } from './post-only.ts';
import { enforceLimit } from '../services/abuse-limits.ts';
import { paths } from './paths.ts';

/**
 * The token endpoint authenticates the client, checks a DPoP proof if one came (RFC 9449 §5: on
 * any grant) and dispatches by grant_type to the table of grant handlers; it knows nothing about
 * any one grant.
 */
export function registerToken(app: FastifyInstance, context: AppContext): void {
  app.post(paths.token, async (request, reply) => {
    // Polls are paced per code by slow_down (RFC 8628 §3.5); this caps one address in all.
    await enforceLimit(context.rateLimits, 'tokenPerAddress', request.ip, { path: paths.token });
    const parameters = oauthParameters(request.body);
    const grantType = required(parameters, 'grant_type');
    const grant = grantOfType(grantType);
    if (!grant) throw unsupportedGrantType(grantType);
    const { client } = await context.authenticateClient(request, parameters);
    // docs/security.md CORS-ORIGIN: a browser origin the client does not list changes nothing.
    admitOrigin(request, reply, client);
    if (!client.grantTypes.includes(grant.type)) {
      throw unauthorizedClient('this client may not use this grant type');
    }
    const proof = await context.dpop.verifyTokenRequest(request, paths.token);
    if (!proof && client.dpopRequired) throw dpopRequired('this client must send a DPoP proof (RFC 9449)');
    // A client using DPoP gets a fresh nonce on every answer, errors included (RFC 9449 §8), so
    // a polling device always holds a current one. Set before the grant runs, so it rides on
    // authorization_pending and slow_down too.
    if (proof) reply.header('DPoP-Nonce', context.dpop.nonce());
    for (const name of grant.parameters) required(parameters, name);
    const resources = parameterValues(request.body, 'resource');
    const response = await grant.handler({ context, request, parameters, client, dpopJkt: proof?.jkt ?? null, resources });
    return reply.headers(noStore).send(response);
  });
  refuseOtherMethods(app, paths.token, 'POST, OPTIONS');
}
