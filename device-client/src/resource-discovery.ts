import { abortedError, DeviceClientError, oneLine } from './core/errors.ts';
import { fetchOnceMoreOnStaleConnection, getJson } from './core/http.ts';
import type { FetchFunction } from './core/runtime.ts';

/** The members of RFC 9728 protected resource metadata the device client reads. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  resource_name?: string;
  scopes_supported?: string[];
  [member: string]: unknown;
}

/** What a sign-in that starts from an API's URL needs: the resource to ask for and who issues for it. */
export interface ProtectedResource {
  resource: string;
  /** The first authorization server the API names: the issuer to sign in with. */
  issuer: string;
  metadata: ProtectedResourceMetadata;
}

const WELL_KNOWN = '/.well-known/oauth-protected-resource';
const PROBE_TIMEOUT_MS = 30_000;
const withoutTrailingSlash = (value: string) => value.replace(/\/+$/, '');

/** RFC 9728 §3.1: the well-known segment goes between the host and the resource's path. */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : withoutTrailingSlash(url.pathname);
  return `${url.origin}${WELL_KNOWN}${path}${url.search}`;
}

/** The `resource_metadata` parameter of a WWW-Authenticate header (RFC 9728 §5.1), if any. */
export function resourceMetadataFromChallenge(header: string | null): string | undefined {
  if (!header) return undefined;
  const match = /(?:^|[\s,])resource_metadata="([^"]+)"/.exec(header);
  return match?.[1];
}

function parseUrl(value: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new DeviceClientError('usage', `${what} "${value}" is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new DeviceClientError('usage', `${what} must be an https:// URL, got ${url.protocol}`);
  if (url.hash) throw new DeviceClientError('usage', `${what} must not have a fragment`);
  return url;
}

/**
 * Finds who signs in for an API from its URL alone (RFC 9728): asks the API without a token and
 * reads `resource_metadata` from its 401 challenge (§5.1), or else tries the well-known location
 * (§3.1); reads the metadata and checks that it describes exactly this API (§3.3), so an API
 * cannot send the device to sign in for another one; returns its first authorization server.
 * The issuer's own metadata is then checked by `discover` (RFC 8414 §3.3).
 */
export async function discoverProtectedResource(
  resourceUrl: string,
  options: { fetch: FetchFunction; signal?: AbortSignal; timeoutMs?: number },
): Promise<ProtectedResource> {
  const resource = parseUrl(resourceUrl, 'resource').href;
  let metadataUrl: string | undefined;
  try {
    const timeout = AbortSignal.timeout(options.timeoutMs ?? PROBE_TIMEOUT_MS);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const probe = await fetchOnceMoreOnStaleConnection(options.fetch, resourceUrl, () => ({
      method: 'GET',
      headers: { accept: 'application/json' },
      redirect: 'error',
      signal,
    }));
    await probe.arrayBuffer().catch(() => undefined);
    if (probe.status === 401) metadataUrl = resourceMetadataFromChallenge(probe.headers.get('www-authenticate'));
  } catch (error) {
    if (options.signal?.aborted) throw abortedError(options.signal);
    const cause = (error as { cause?: { code?: string } }).cause;
    throw new DeviceClientError('network', oneLine(`cannot reach ${new URL(resource).origin}: ${cause?.code ?? (error as Error).message}`), { cause: error });
  }
  // The pointer may name another host only over https: a plain-http answer could be anyone's.
  if (metadataUrl) {
    const pointed = parseUrl(metadataUrl, 'resource_metadata');
    if (pointed.origin !== new URL(resource).origin && pointed.protocol !== 'https:') metadataUrl = undefined;
  }
  const location = metadataUrl ?? protectedResourceMetadataUrl(resource);
  const outcome = await getJson(location, options);
  if (!outcome.ok) throw new DeviceClientError('server', `${location} answered HTTP ${outcome.status}`, { status: outcome.status });
  const body = outcome.body;
  if (typeof body.resource !== 'string' || withoutTrailingSlash(body.resource) !== withoutTrailingSlash(resource)) {
    throw new DeviceClientError('server', `protected resource metadata names resource ${String(body.resource)}, expected ${resource}`);
  }
  const servers = body.authorization_servers;
  if (!Array.isArray(servers) || servers.length === 0 || typeof servers[0] !== 'string') {
    throw new DeviceClientError('server', `protected resource metadata of ${resource} names no authorization server`);
  }
  return { resource: body.resource, issuer: servers[0], metadata: body as ProtectedResourceMetadata };
}
