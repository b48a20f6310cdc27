import { invalidScope, unauthorizedClient } from '../errors.ts';
import { isConfidentialClient } from '../http/client-auth.ts';
import { parseScope } from '../http/form.ts';
import { registeredResources } from '../tokens/resource-indicators.ts';
import type { GrantDescriptor, GrantHandler } from './types.ts';

/** Scopes that only make sense for a person; never granted to a machine. */
const USER_ONLY_SCOPES = new Set(['openid', 'offline_access', 'profile', 'email']);

/**
 * client_credentials (RFC 6749 §4.4) for machine-to-machine calls: confidential clients only, an
 * access token whose subject is the client, and never a refresh token (§4.4.3).
 */
const clientCredentials: GrantHandler = async ({ context, parameters, client, dpopJkt, resources }) => {
  if (!isConfidentialClient(client)) throw unauthorizedClient('client_credentials needs a confidential client');
  const allowed = client.scopes.filter((scope) => !USER_ONLY_SCOPES.has(scope));
  const requested = parseScope(parameters.scope);
  if (requested && requested.some((scope) => !allowed.includes(scope))) {
    throw invalidScope('the client may not request that scope');
  }
  const scopes = requested && requested.length > 0 ? requested : allowed;
  // RFC 8707 §2: a machine names the registered API it calls; the token's aud is exactly that.
  const audience = await registeredResources(context.store, resources);
  const access = await context.tokens.issueAccessToken({ client, subject: client.clientId, scopes, grantId: null, dpopJkt, resources: audience });
  context.audit.record('tokens_issued', { grant: 'client_credentials', clientId: client.clientId });
  return { access_token: access.token, token_type: dpopJkt ? 'DPoP' : 'Bearer', expires_in: access.expiresIn, scope: scopes.join(' ') };
};

export const clientCredentialsGrant: GrantDescriptor = { type: 'client_credentials', name: 'client_credentials', parameters: [], handler: clientCredentials };
