import type { FastifyRequest } from 'fastify';
import type { Clock } from '../clock.ts';
import { invalidClient, invalidRequest } from '../errors.ts';
import { dummyPasswordHash, verifyPassword } from '../passwords.ts';
import { createVerifiedSecrets } from './verified-secrets.ts';
import type { ClientRecord, Clients } from '../store/types.ts';
import { ClientAssertionError, claimedClientId, hasClientKeys, JWT_BEARER_ASSERTION_TYPE, type ClientAssertionVerifier } from './client-assertion.ts';

export type ClientAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/** Confidential: the client holds a secret or a private key (RFC 6749 §2.1, RFC 7523). */
export const isConfidentialClient = (client: ClientRecord): boolean => client.secretHash !== null || hasClientKeys(client);

export interface AuthenticatedClient {
  client: ClientRecord;
  method: ClientAuthMethod;
}

/** RFC 6749 §2.3.1: the Basic credentials are form-encoded before base64. */
function parseBasic(header: string): { clientId: string; secret: string } | null {
  const match = /^Basic ([A-Za-z0-9+/=._~-]+)$/i.exec(header.trim());
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  try {
    const decode = (part: string) => decodeURIComponent(part.replace(/\+/g, ' '));
    return { clientId: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)) };
  } catch {
    return null;
  }
}

/**
 * Authenticates the client of a token, device authorization, revocation or introspection
 * request: public clients by client_id alone, confidential ones by client_secret_basic or
 * client_secret_post (RFC 6749 §2.3) or by a private_key_jwt assertion (RFC 7523 §2.2) when
 * `verifyAssertion` is given. Unknown, disabled or wrong-secret clients all get the same
 * invalid_client, after the same argon2 work, so neither the answer nor its timing tells which.
 */
/** Which cause one invalid_client answer hides, for the operator's log only (never the response). */
const whyRefused = (client: ClientRecord | null, otherwise: string): string =>
  client === null ? 'no such client' : client.disabled ? 'the client is blocked' : otherwise;

export function createClientAuthenticator(deps: { clients: Clients; clock: Clock; verifyAssertion?: ClientAssertionVerifier }) {
  const verified = createVerifiedSecrets({ now: () => deps.clock.now() });
  /** RFC 7521 §4.2: client_assertion_type + client_assertion, and no other credentials. */
  async function authenticateByAssertion(parameters: Record<string, string>, usedBasic: boolean): Promise<AuthenticatedClient> {
    if (usedBasic || parameters.client_secret !== undefined) throw invalidRequest('use only one client authentication method');
    if (!deps.verifyAssertion || parameters.client_assertion_type !== JWT_BEARER_ASSERTION_TYPE) {
      throw invalidClient('unsupported client_assertion_type', false);
    }
    const assertion = parameters.client_assertion;
    if (!assertion) throw invalidRequest('missing required parameter "client_assertion"');
    const clientId = claimedClientId(assertion);
    if (!clientId) throw invalidClient('client_assertion is malformed (it needs iss = sub = client_id)', false);
    if (parameters.client_id !== undefined && parameters.client_id !== clientId) {
      throw invalidClient('client_id does not match the client assertion', false);
    }
    const client = await deps.clients.get(clientId);
    if (!client || client.disabled || !hasClientKeys(client)) {
      throw invalidClient('unknown client or client authentication failed', false, whyRefused(client, 'the client has no registered keys'));
    }
    try {
      await deps.verifyAssertion(assertion, client);
    } catch (error) {
      if (error instanceof ClientAssertionError) throw invalidClient(`client authentication failed: ${error.message}`, false);
      throw error;
    }
    return { client, method: 'private_key_jwt' };
  }

  return async function authenticateClient(
    request: FastifyRequest,
    parameters: Record<string, string>,
  ): Promise<AuthenticatedClient> {
    const authorization = request.headers.authorization;
    // "Basic" with nothing after it is still an attempt at Basic (RFC 6749 §5.2: 401 + WWW-Authenticate).
    const usedBasic = typeof authorization === 'string' && /^basic(?:\s|$)/i.test(authorization.trim());
    if (parameters.client_assertion_type !== undefined || parameters.client_assertion !== undefined) {
      return authenticateByAssertion(parameters, usedBasic);
    }
    let clientId: string | undefined;
    let secret: string | undefined;
    let method: ClientAuthMethod;
    if (usedBasic) {
      const basic = parseBasic(authorization!);
      if (!basic) throw invalidClient('malformed Basic credentials', true);
      if (parameters.client_secret !== undefined) throw invalidRequest('use only one client authentication method');
      if (parameters.client_id !== undefined && parameters.client_id !== basic.clientId) {
        throw invalidRequest('client_id does not match the authenticated client');
      }
      ({ clientId, secret } = basic);
      method = 'client_secret_basic';
    } else {
      clientId = parameters.client_id;
      secret = parameters.client_secret;
      method = secret === undefined ? 'none' : 'client_secret_post';
    }
    if (!clientId) throw invalidClient('client authentication is required (client_id)', usedBasic);
    if (clientId.length > 256) throw invalidClient('unknown client', usedBasic);

    const client = await deps.clients.get(clientId);
    if (method === 'none') {
      // A public client names itself; a confidential one must prove it holds its secret.
      if (!client || client.disabled || isConfidentialClient(client)) {
        throw invalidClient('unknown client or client authentication failed', usedBasic, whyRefused(client, 'a confidential client sent no credentials'));
      }
      return { client, method };
    }
    // A secret verified a moment ago skips argon2 (see verified-secrets.ts); failures never do.
    const remembered = client !== null && client.secretHash !== null && verified.matches(client.clientId, client.secretHash, secret ?? '');
    const storedHash = client?.secretHash ?? (await dummyPasswordHash());
    const secretMatches = remembered || (await verifyPassword(storedHash, secret ?? ''));
    if (secretMatches && !remembered && client?.secretHash) verified.remember(client.clientId, client.secretHash, secret ?? '');
    if (!client || client.disabled || client.secretHash === null || !secretMatches) {
      throw invalidClient('unknown client or client authentication failed', usedBasic, whyRefused(client, client?.secretHash ? 'wrong secret' : 'the client has no secret'));
    }
    return { client, method };
  };
}

export type ClientAuthenticator = ReturnType<typeof createClientAuthenticator>;
