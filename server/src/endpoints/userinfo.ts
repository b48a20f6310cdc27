import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.ts';
import { resourceDpopError } from '../dpop/errors.ts';
import { insufficientScope, invalidRequest, invalidToken } from '../errors.ts';
import { admitOrigin } from '../http/cors.ts';
import { oauthParameters } from '../http/form.ts';
import { userClaims } from '../tokens/token-service.ts';
import { enforceLimit } from '../services/abuse-limits.ts';
import { paths } from './paths.ts';

/**
 * RFC 6750 §2.1 header, or §2.2 form body on POST; never both. RFC 9449 §7.1: a DPoP-bound
 * token comes in `Authorization: DPoP <token>` beside a DPoP proof header.
 */
function presentedToken(request: FastifyRequest): { scheme: 'Bearer' | 'DPoP'; token: string } {
  const header = request.headers.authorization;
  const fromBody = request.method === 'POST' && request.body ? oauthParameters(request.body).access_token : undefined;
  if (header && fromBody) throw invalidRequest('send the access token in one place only');
  if (header) {
    const match = /^(Bearer|DPoP) ([A-Za-z0-9\-._~+/]+=*)$/i.exec(header.trim());
    if (!match) throw invalidToken('malformed Authorization header');
    return { scheme: match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: match[2]! };
  }
  if (fromBody) return { scheme: 'Bearer', token: fromBody };
  throw invalidToken('an access token is required');
}

/** OIDC Core §5.3 userinfo: claims of the token's user, released by the token's scope. */
export function registerUserinfo(app: FastifyInstance, context: AppContext): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    await enforceLimit(context.rateLimits, 'userinfoPerAddress', request.ip, { path: paths.userinfo });
    const { scheme, token } = presentedToken(request);
    const record = await context.accessTokens.verify(token);
    if (!record) {
      const description = 'the access token is invalid, expired or revoked';
      throw scheme === 'DPoP' ? resourceDpopError('invalid_token', description) : invalidToken(description);
    }
    // docs/security.md CORS-ORIGIN: readable only by an origin the token's client lists, and
    // judged before the DPoP proof's jti is spent.
    if (request.headers.origin !== undefined) {
      const client = await context.store.clients.get(record.clientId);
      admitOrigin(request, reply, client ?? { allowedOrigins: [] });
    }
    // RFC 9449 §7.1-7.2: a bound token only with its proof (ath, htm, htu, jti) and its key; a
    // bound token sent as Bearer is refused, or a stolen one would work without the key.
    if (record.dpopJkt) {
      if (scheme !== 'DPoP') throw resourceDpopError('invalid_token', 'the access token is DPoP-bound; send it with the DPoP scheme and a proof');
      const proof = await context.dpop.verifyResourceRequest(request, paths.userinfo, token);
      if (proof.jkt !== record.dpopJkt) throw resourceDpopError('invalid_token', 'the DPoP proof key does not match the access token');
    } else if (scheme === 'DPoP') {
      throw resourceDpopError('invalid_token', 'the access token is not DPoP-bound; send it with the Bearer scheme');
    }
    if (!record.scopes.includes('openid')) throw insufficientScope('the token lacks the openid scope');
    const user = await context.store.users.get(record.subject);
    if (!user || user.disabled) throw invalidToken('the account is no longer active');
    return userClaims(user, record.scopes);
  };
  app.get(paths.userinfo, handler);
  app.post(paths.userinfo, handler);
}
