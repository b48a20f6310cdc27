import type { PushDiscoveryMetadata } from '@devicegate/protocol';
import { DeviceClientError } from './errors.ts';
import { getJson } from './http.ts';
import type { FetchFunction } from './runtime.ts';

/** The members of RFC 8414 / OpenID Connect Discovery metadata the device client reads. */
export interface AuthorizationServerMetadata extends PushDiscoveryMetadata {
  issuer: string;
  token_endpoint: string;
  device_authorization_endpoint: string;
  revocation_endpoint?: string;
  token_endpoint_auth_methods_supported?: string[];
  grant_types_supported?: string[];
  /** RFC 9449 §5.1: present when the server accepts DPoP proofs at its token endpoint. */
  dpop_signing_alg_values_supported?: string[];
  [member: string]: unknown;
}

/** Removes one trailing slash: `https://id.example/` and `https://id.example` are one issuer. */
export function normalizeIssuer(issuer: string): string {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new DeviceClientError('usage', `issuer "${issuer}" is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new DeviceClientError('usage', `issuer must be an https:// URL, got ${url.protocol}`);
  }
  if (url.search || url.hash) throw new DeviceClientError('usage', 'issuer must not have a query or fragment');
  return url.href.replace(/\/$/, '');
}

/**
 * OpenID Connect Discovery first, then RFC 8414's well-known URI (for a path issuer, RFC 8414 §3.1
 * inserts the well-known segment before the path). The issuer in the answer must be the one asked
 * for (RFC 8414 §3.3), so a misconfigured proxy cannot send the device elsewhere.
 */
export async function discover(
  issuer: string,
  options: { fetch: FetchFunction; signal?: AbortSignal; timeoutMs?: number },
): Promise<AuthorizationServerMetadata> {
  const normalized = normalizeIssuer(issuer);
  const url = new URL(normalized);
  const path = url.pathname === '/' ? '' : url.pathname;
  const candidates = [
    `${normalized}/.well-known/openid-configuration`,
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
  ];
  let lastProblem = '';
  for (const candidate of candidates) {
    const outcome = await getJson(candidate, options).catch((error: unknown) => {
      // A 4xx answer without JSON (a plain 404 page) means "not here": try the next location.
      if (error instanceof DeviceClientError && error.code === 'server' && (error.status ?? 0) < 500) {
        lastProblem = error.message;
        return null;
      }
      throw error;
    });
    if (!outcome) continue;
    if (!outcome.ok) {
      lastProblem = `${candidate} answered HTTP ${outcome.status}`;
      continue;
    }
    return checkMetadata(outcome.body, normalized);
  }
  throw new DeviceClientError('server', `no discovery metadata for ${normalized} (${lastProblem})`);
}

function checkMetadata(body: Record<string, unknown>, issuer: string): AuthorizationServerMetadata {
  if (typeof body.issuer !== 'string' || body.issuer.replace(/\/$/, '') !== issuer) {
    throw new DeviceClientError('server', `discovery metadata names issuer ${String(body.issuer)}, expected ${issuer}`);
  }
  for (const member of ['token_endpoint', 'device_authorization_endpoint'] as const) {
    if (typeof body[member] !== 'string') {
      throw new DeviceClientError('server', `discovery metadata of ${issuer} has no ${member}`);
    }
  }
  return body as AuthorizationServerMetadata;
}

/** RFC 8414 §2: client_secret_basic is the default when the list is absent. */
export function clientAuthMethod(metadata: AuthorizationServerMetadata): 'client_secret_basic' | 'client_secret_post' {
  const methods = metadata.token_endpoint_auth_methods_supported;
  if (Array.isArray(methods) && !methods.includes('client_secret_basic') && methods.includes('client_secret_post')) {
    return 'client_secret_post';
  }
  return 'client_secret_basic';
}
