import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.ts';
import { invalidClient, OAuthError } from '../errors.ts';
import { oauthParameters, required } from '../http/form.ts';
import { hashSecret } from '../secrets.ts';
import { noStore, refuseOtherMethods } from './post-only.ts';
import { enforceLimit } from '../services/abuse-limits.ts';
import { paths } from './paths.ts';

const seconds = (ms: number) => Math.floor(ms / 1000);
/** The stored audience (space-joined) as the token's `aud` claim: a string, or an array of several. */
const audienceClaim = (stored: string) => (stored.includes(' ') ? stored.split(' ') : stored);

/**
 * Introspection (RFC 7662) for resource servers: only clients allowed to introspect may ask.
 * A revoked JWT answers `active: false` although its signature still verifies.
 */
export function registerIntrospection(app: FastifyInstance, context: AppContext): void {
  const { store, clock, config } = context;
  app.post(paths.introspection, async (request, reply) => {
    const parameters = oauthParameters(request.body);
    const { client, method } = await context.authenticateClient(request, parameters);
    // RFC 7662 §2.1: the caller authenticates. A public client only names itself, which anyone
    // can do, so one marked "may introspect" by mistake must not open the endpoint to all.
    if (method === 'none') throw invalidClient('introspection requires client authentication', false);
    if (!client.mayIntrospect) throw new OAuthError('unauthorized_client', 'this client may not introspect tokens', 403);
    await enforceLimit(context.rateLimits, 'introspectionPerClient', client.clientId, { path: paths.introspection });
    const token = required(parameters, 'token');
    reply.headers(noStore);

    const access = await context.accessTokens.verify(token);
    if (access) {
      return {
        active: true,
        token_type: access.dpopJkt ? 'DPoP' : 'Bearer',
        scope: access.scopes.join(' '),
        client_id: access.clientId,
        sub: access.subject,
        aud: audienceClaim(access.audience),
        iss: config.issuer,
        exp: seconds(access.expiresAt),
        iat: seconds(access.issuedAt),
        jti: access.jti,
        // RFC 8693 §4.1, §2.2: an exchanged token names who acted for the subject, the chain nested.
        ...(access.act ? { act: access.act } : {}),
        ...(access.dpopJkt ? { cnf: { jkt: access.dpopJkt } } : {}),
      };
    }
    const refresh = await store.refreshTokens.find(hashSecret(token));
    const now = clock.now();
    if (refresh && refresh.rotatedAt === null && refresh.revokedAt === null && refresh.expiresAt > now) {
      const grant = await store.grants.get(refresh.grantId);
      if (grant && grant.revokedAt === null && grant.expiresAt > now) {
        return {
          active: true,
          token_type: 'refresh_token',
          scope: refresh.scopes.join(' '),
          client_id: refresh.clientId,
          ...(grant.userId ? { sub: grant.userId } : {}),
          iss: config.issuer,
          exp: seconds(refresh.expiresAt),
          iat: seconds(refresh.createdAt),
          ...(grant.dpopJkt ? { cnf: { jkt: grant.dpopJkt } } : {}),
        };
      }
    }
    return { active: false };
  });
  refuseOtherMethods(app, paths.introspection);
}
