import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.ts';
import { admitOrigin } from '../http/cors.ts';
import { oauthParameters, required } from '../http/form.ts';
import { hashSecret } from '../secrets.ts';
import { noStore, refuseOtherMethods } from './post-only.ts';
import { clientAndAddress, enforceLimit } from '../services/abuse-limits.ts';
import { paths } from './paths.ts';

/**
 * Revocation (RFC 7009). A refresh token takes its whole grant with it (access tokens too); an
 * access token is revoked alone. Unknown tokens, or another client's, still answer 200 (§2.2):
 * the answer must not reveal which tokens exist.
 */
export function registerRevocation(app: FastifyInstance, context: AppContext): void {
  const { store, clock, audit } = context;
  app.post(paths.revocation, async (request, reply) => {
    const parameters = oauthParameters(request.body);
    await enforceLimit(context.rateLimits, 'revocationPerClientAndAddress', clientAndAddress(request, parameters), { path: paths.revocation });
    const { client } = await context.authenticateClient(request, parameters);
    // docs/security.md CORS-ORIGIN: a browser origin the client does not list changes nothing.
    admitOrigin(request, reply, client);
    const token = required(parameters, 'token');
    const now = clock.now();
    const hint = parameters.token_type_hint;

    const tryRefresh = async () => {
      const record = await store.refreshTokens.find(hashSecret(token));
      if (!record || record.clientId !== client.clientId) return false;
      if (await store.grants.revoke(record.grantId, now, 'revoked_by_client')) {
        audit.record('grant_revoked', { clientId: client.clientId, grantId: record.grantId, reason: 'revocation_endpoint' });
      }
      return true;
    };
    const tryAccess = async () => {
      const record = await context.accessTokens.lookup(token);
      if (!record || record.clientId !== client.clientId) return false;
      if (await store.accessTokens.revoke(record.jti, now)) audit.record('token_revoked', { clientId: client.clientId, jti: record.jti });
      return true;
    };
    // The hint only decides the order of the search (RFC 7009 §2.1).
    if (hint === 'access_token') {
      (await tryAccess()) || (await tryRefresh());
    } else {
      (await tryRefresh()) || (await tryAccess());
    }
    return reply.headers(noStore).code(200).send();
  });
  refuseOtherMethods(app, paths.revocation, 'POST, OPTIONS');
}
