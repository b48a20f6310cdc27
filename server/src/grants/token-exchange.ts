import { invalidGrant, invalidRequest, invalidScope } from '../errors.ts';
import { parameterValues, parseScope } from '../http/form.ts';
import { audienceFromGrant } from '../tokens/resource-indicators.ts';
import type { GrantDescriptor, GrantHandler } from './types.ts';

const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/**
 * Token exchange (RFC 8693) for delegation: an agent (the authenticated client) that holds a
 * person's access token trades it for a narrower one for a downstream resource server. The new
 * token says who acted (`act`, §4.1, the earlier actors nested), and belongs to the subject
 * token's grant, so signing that grant out (My devices, revocation, reuse detection) ends every
 * token exchanged from it.
 *
 * Against the confused deputy (docs/security.md EXCHANGE-NARROW): only the client the
 * subject token was issued to may exchange it, never another client that got hold of it; the
 * downstream resources must be among those the person consented to (RESOURCE-NARROW), the scopes
 * among the subject token's, and the new token never outlives the subject token.
 */
const exchange: GrantHandler = async ({ context, request, parameters, client, dpopJkt, resources }) => {
  const { store, clock, tokens, audit, accessTokens } = context;
  // RFC 8693 §2.1: only access tokens are subject tokens here; §2.2.2: unsupported types are
  // invalid_request.
  if (parameters.subject_token_type !== ACCESS_TOKEN_TYPE) throw invalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
  const requestedType = parameters.requested_token_type;
  if (requestedType !== undefined && requestedType !== ACCESS_TOKEN_TYPE && requestedType !== JWT_TOKEN_TYPE) {
    throw invalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
  }
  // The actor is the authenticated client itself; a separate actor token would let one client
  // speak for another.
  if (parameters.actor_token !== undefined) throw invalidRequest('actor_token is not supported: the authenticated client is the actor');

  const subject = await accessTokens.verify(parameters.subject_token!);
  if (!subject || subject.grantId === null) throw invalidGrant('the subject token is invalid, expired or revoked, or not a person’s token');
  if (subject.clientId !== client.clientId) throw invalidGrant('the subject token was not issued to this client');
  const grant = await store.grants.get(subject.grantId);
  const now = clock.now();
  if (!grant || grant.revokedAt !== null || grant.expiresAt <= now) throw invalidGrant('the grant of the subject token was revoked or has expired');
  const user = grant.userId ? await store.users.get(grant.userId) : null;
  if (!user || user.disabled) throw invalidGrant('the account is no longer active');

  // RFC 8693 §2.1: `resource` and `audience` both name the target; here both are resource
  // identifiers from the registry, and the downstream one must be named.
  const targets = [...new Set([...resources, ...parameterValues(request.body, 'audience')])];
  if (targets.length === 0) throw invalidRequest('name the downstream resource with resource (or audience)');
  const audience = await audienceFromGrant(store, targets, grant.resources);

  const requested = parseScope(parameters.scope);
  if (requested && requested.some((scope) => !subject.scopes.includes(scope))) {
    throw invalidScope('an exchanged token cannot have scopes the subject token does not');
  }
  const scopes = requested && requested.length > 0 ? requested : subject.scopes;
  const act = { sub: client.clientId, ...(subject.act ? { act: subject.act } : {}) };

  const access = await tokens.issueAccessToken({
    client,
    subject: subject.subject,
    scopes,
    grantId: grant.id,
    dpopJkt,
    resources: audience,
    act,
    notAfter: subject.expiresAt,
  });
  audit.record('token_exchanged', {
    clientId: client.clientId,
    grantId: grant.id,
    userId: user.id,
    subjectJti: subject.jti,
    actors: actorChain(act),
    resources: audience.join(' '),
  });
  return {
    access_token: access.token,
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: dpopJkt ? 'DPoP' : 'Bearer',
    expires_in: access.expiresIn,
    scope: scopes.join(' '),
  };
};

/** "agent-b < agent-a": the current actor first, then those it acted through. */
function actorChain(act: { sub: string; act?: { sub: string; act?: unknown } }): string {
  const names: string[] = [];
  for (let actor: { sub: string; act?: unknown } | undefined = act; actor; actor = actor.act as typeof actor) names.push(actor.sub);
  return names.join(' < ');
}

export const tokenExchangeGrant: GrantDescriptor = {
  type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  name: 'token_exchange',
  parameters: ['subject_token', 'subject_token_type'],
  handler: exchange,
};
