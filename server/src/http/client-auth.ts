import type { FastifyRequest } from 'fastify';
import type { Clock } from '../clock.js';
import { invalidClient, invalidRequest } from '../errors.js';
import { dummyPasswordHash, verifyPassword } from '../passwords.js';
import type { ClientRecord, Clients } from '../store/types.js';

export type ClientAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post';

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
 * client_secret_post (RFC 6749 §2.3). Unknown, disabled or wrong-secret clients all get the same
 * invalid_client, after the same argon2 work, so neither the answer nor its timing tells which.
 */
export function createClientAuthenticator(deps: { clients: Clients; clock: Clock }) {
  return async function authenticateClient(
    request: FastifyRequest,
    parameters: Record<string, string>,
  ): Promise<AuthenticatedClient> {
    const authorization = request.headers.authorization;
    // "Basic" with nothing after it is still an attempt at Basic (RFC 6749 §5.2: 401 + WWW-Authenticate).
    const usedBasic = typeof authorization === 'string' && /^basic(?:\s|$)/i.test(authorization.trim());
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
      if (!client || client.disabled || client.secretHash !== null) throw invalidClient('unknown client or client authentication failed', usedBasic);
      return { client, method };
    }
    const storedHash = client?.secretHash ?? (await dummyPasswordHash());
    const secretMatches = await verifyPassword(storedHash, secret ?? '');
    if (!client || client.disabled || client.secretHash === null || !secretMatches) {
      throw invalidClient('unknown client or client authentication failed', usedBasic);
    }
    return { client, method };
  };
}

export type ClientAuthenticator = ReturnType<typeof createClientAuthenticator>;
