import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { insufficientScope, invalidRequest, invalidToken } from '../errors.js';
import { oauthParameters } from '../http/form.js';
import { userClaims } from '../tokens/token-service.js';
import { enforceLimit } from '../services/abuse-limits.js';
import { paths } from './paths.js';

/** RFC 6750 §2.1 header, or §2.2 form body on POST; never both. */
function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  const fromBody = request.method === 'POST' && request.body ? oauthParameters(request.body).access_token : undefined;
  if (header && fromBody) throw invalidRequest('send the access token in one place only');
  if (header) {
    const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(header.trim());
    if (!match) throw invalidToken('malformed Authorization header');
    return match[1]!;
  }
  if (fromBody) return fromBody;
  throw invalidToken('an access token is required');
}

/** OIDC Core §5.3 userinfo: claims of the token's user, released by the token's scope. */
export function registerUserinfo(app: FastifyInstance, context: AppContext): void {
  const handler = async (request: FastifyRequest) => {
    await enforceLimit(context.rateLimits, 'userinfoPerAddress', request.ip, { path: paths.userinfo });
    const token = bearerToken(request);
    const record = await context.accessTokens.verify(token);
    if (!record) throw invalidToken('the access token is invalid, expired or revoked');
    if (!record.scopes.includes('openid')) throw insufficientScope('the token lacks the openid scope');
    const user = await context.store.users.get(record.subject);
    if (!user || user.disabled) throw invalidToken('the account is no longer active');
    return userClaims(user, record.scopes);
  };
  app.get(paths.userinfo, handler);
  app.post(paths.userinfo, handler);
}
