import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { invalidClient, OAuthError } from '../errors.ts';
import { DEVICE_CODE_GRANT_TYPE } from '../grants/index.ts';
import type { ClientRecord, Clients, ClientRegistration } from '../store/types.ts';
import { defaultClient } from './bootstrap.ts';
import { fetchMetadataDocument, MetadataFetchError } from './metadata-fetch.ts';

/**
 * What a self-registered client may be, whichever way it registered (RFC 7591 or a client id
 * metadata document): a public device-flow client, never more (docs/security.md REGISTRATION-POLICY).
 */

/** RFC 7591 §3.2.2 error codes, each an OAuthError (400). */
export const invalidClientMetadata = (description: string) => new OAuthError('invalid_client_metadata', description);

const SELF_REGISTERED_GRANTS = new Set([DEVICE_CODE_GRANT_TYPE, 'refresh_token']);
const MAX_NAME = 64;

export interface SelfDescription {
  client_name?: unknown;
  grant_types?: unknown;
  token_endpoint_auth_method?: unknown;
  scope?: unknown;
  redirect_uris?: unknown;
  response_types?: unknown;
  client_secret?: unknown;
  jwks?: unknown;
  jwks_uri?: unknown;
}

/**
 * Checks a client's own description against the operator's policy and makes the record: public
 * (`token_endpoint_auth_method: none`), the device code grant (and refresh), scopes within
 * `registration.scopes`, a short printable name, no redirect URIs (there is no redirect flow
 * here). Anything else is invalid_client_metadata, naming the member.
 */
export function selfRegisteredClient(
  config: Config,
  clock: Clock,
  clientId: string,
  description: SelfDescription,
  registration: ClientRegistration,
  fallbackName: string,
): ClientRecord {
  const method = description.token_endpoint_auth_method ?? 'none';
  if (method !== 'none') throw invalidClientMetadata('token_endpoint_auth_method must be "none": only public device clients may register themselves');
  if (description.client_secret !== undefined || description.jwks !== undefined || description.jwks_uri !== undefined) {
    throw invalidClientMetadata('a self-registered client is public: no client_secret, jwks or jwks_uri');
  }
  if (description.redirect_uris !== undefined && !(Array.isArray(description.redirect_uris) && description.redirect_uris.length === 0)) {
    throw new OAuthError('invalid_redirect_uri', 'devicegate has no redirect-based flow: register no redirect_uris');
  }
  if (description.response_types !== undefined && !(Array.isArray(description.response_types) && description.response_types.length === 0)) {
    throw invalidClientMetadata('response_types must be empty: devicegate has no authorization endpoint');
  }
  const grantTypes = description.grant_types === undefined ? [DEVICE_CODE_GRANT_TYPE, 'refresh_token'] : description.grant_types;
  if (!Array.isArray(grantTypes) || !grantTypes.every((type) => typeof type === 'string' && SELF_REGISTERED_GRANTS.has(type)) || !grantTypes.includes(DEVICE_CODE_GRANT_TYPE)) {
    throw invalidClientMetadata(`grant_types must be ${DEVICE_CODE_GRANT_TYPE}, optionally with refresh_token`);
  }
  const allowed = config.registration.scopes.split(' ');
  let scopes = allowed;
  if (description.scope !== undefined) {
    if (typeof description.scope !== 'string') throw invalidClientMetadata('scope must be a string');
    scopes = [...new Set(description.scope.split(' ').filter(Boolean))];
    const extra = scopes.filter((scope) => !allowed.includes(scope));
    if (extra.length > 0) throw invalidClientMetadata(`scope not allowed for self-registered clients: ${extra.join(' ').slice(0, 200)}`);
  }
  const name = description.client_name ?? fallbackName;
  if (typeof name !== 'string' || name.trim() === '' || name.length > MAX_NAME || /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(name)) {
    throw invalidClientMetadata(`client_name must be 1-${MAX_NAME} printable characters`);
  }
  return defaultClient(config, clock, {
    clientId,
    name: name.trim(),
    grantTypes: [...new Set(grantTypes as string[])],
    scopes,
    registration,
  });
}

/** Whether a client_id is a client id metadata document URL (https, a path, no fragment). */
export function isMetadataDocumentClientId(clientId: string, allowLoopback: boolean): boolean {
  if (!clientId.startsWith('https://') && !(allowLoopback && clientId.startsWith('http://'))) return false;
  try {
    const url = new URL(clientId);
    return url.pathname !== '/' && !url.hash;
  } catch {
    return false;
  }
}

const MAX_REMEMBERED_FAILURES = 1000;
/** A document that failed is not fetched again for a minute: a flood of one bad id costs one fetch. */
const FAILURE_MEMORY_MS = 60_000;

/**
 * Clients as the authenticator sees them: the store's, and, when client id metadata documents
 * are on, a client_id that is an https URL is the client its document there describes. The
 * document is fetched safely (metadata-fetch.ts), checked against the same policy as dynamic
 * registration, and its client kept in the store (so the pages, My devices and the CLI know it),
 * fetched again once `metadataDocumentCacheSeconds` have passed. A client an operator blocked
 * stays blocked: its record is returned as it is, never refreshed from the document.
 */
export function withClientMetadataDocuments(clients: Clients, deps: { config: Config; clock: Clock }): Clients {
  const { config, clock } = deps;
  const settings = config.registration;
  if (!settings.clientMetadataDocuments) return clients;
  const inFlight = new Map<string, Promise<ClientRecord>>();
  const failures = new Map<string, { until: number; message: string }>();

  async function fromDocument(clientId: string, previous: ClientRecord | null): Promise<ClientRecord> {
    let document: Record<string, unknown>;
    try {
      document = await fetchMetadataDocument(clientId, {
        maxBytes: settings.metadataDocumentMaxBytes,
        timeoutMs: settings.metadataDocumentTimeout,
        allowLoopback: settings.unsafeAllowLoopbackForTests,
      });
    } catch (error) {
      if (error instanceof MetadataFetchError) throw invalidClient(`client metadata document refused: ${error.message}`, false);
      throw error;
    }
    // The document must name itself: fetched from one URL, it cannot describe another client.
    if (document.client_id !== clientId) throw invalidClient('client metadata document refused: its client_id is not the URL it was fetched from', false);
    let record: ClientRecord;
    try {
      record = selfRegisteredClient(config, clock, clientId, document, 'metadata_document', new URL(clientId).host);
    } catch (error) {
      if (error instanceof OAuthError) throw invalidClient(`client metadata document refused: ${error.message}`, false);
      throw error;
    }
    const fresh = { ...record, disabled: previous?.disabled ?? false };
    await clients.put(fresh);
    return fresh;
  }

  return {
    ...clients,
    async get(clientId) {
      if (!isMetadataDocumentClientId(clientId, settings.unsafeAllowLoopbackForTests)) return clients.get(clientId);
      const stored = await clients.get(clientId);
      const now = clock.now();
      if (stored && (stored.disabled || stored.registration !== 'metadata_document' || now - stored.createdAt < settings.metadataDocumentCacheSeconds * 1000)) return stored;
      const failed = failures.get(clientId);
      if (failed && failed.until > now) throw invalidClient(failed.message, false);
      let pending = inFlight.get(clientId);
      if (!pending) {
        pending = fromDocument(clientId, stored).finally(() => inFlight.delete(clientId));
        inFlight.set(clientId, pending);
      }
      try {
        return await pending;
      } catch (error) {
        if (error instanceof OAuthError) {
          if (failures.size >= MAX_REMEMBERED_FAILURES) failures.clear();
          failures.set(clientId, { until: now + FAILURE_MEMORY_MS, message: error.message });
        }
        throw error;
      }
    },
  };
}
