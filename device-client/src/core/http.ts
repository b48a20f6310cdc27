import { textToBase64 } from './base64url.ts';
import { abortedError, DeviceClientError, oneLine } from './errors.ts';
import type { FetchFunction } from './runtime.ts';

/** One request never waits longer than this for the appliance (the caller's signal still wins). */
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** How the client proves who it is (RFC 6749 §2.3). Public clients only send client_id. */
export interface ClientCredentials {
  clientId: string;
  clientSecret?: string;
  /** RFC 8414 `token_endpoint_auth_methods_supported`; Basic is the RFC 6749 default. */
  authMethod?: 'client_secret_basic' | 'client_secret_post';
}

export type HttpOutcome =
  | { ok: true; status: number; body: Record<string, unknown>; headers: Headers }
  /** RFC 6749 §5.2 error answer. */
  | { ok: false; status: number; error: string; description?: string; body: Record<string, unknown>; headers: Headers };

interface RequestOptions {
  fetch: FetchFunction;
  signal?: AbortSignal;
  timeoutMs?: number;
  /**
   * More request headers (a DPoP proof). A function is called for every attempt, so a request sent
   * again (see fetchOnceMoreOnStaleConnection) carries a fresh proof, never the jti of the first.
   */
  headers?: Record<string, string> | (() => Promise<Record<string, string>>);
}

function requestSignal(options: RequestOptions): AbortSignal {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  return options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
}

/**
 * Socket-level failures that mean "the connection died before any answer came": undici's
 * SocketError ("other side closed"), a reset, a write to a closed socket. They are what a request
 * meets when it is written on a kept-alive connection the server has just closed as idle (the
 * server's keep-alive timeout ran out while the client, late because its event loop was busy,
 * picked the socket from its pool). A refused connection or a timeout is not among them: those
 * say the appliance is down or slow, and a second attempt at once would only add load.
 */
const CLOSED_BEFORE_ANSWER = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/** True when `error` (from fetch) is one of the failures above. */
function closedBeforeAnswer(error: unknown): boolean {
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  return typeof cause?.code === 'string' && CLOSED_BEFORE_ANSWER.has(cause.code);
}

/**
 * fetch, sent once more at once when the first attempt failed at the socket level before any
 * answer (closedBeforeAnswer), as browsers and mature HTTP clients do for a request that met a
 * kept-alive connection the server had just closed. Once only: a second such failure is a real
 * one. The retry goes out on a new connection (the pool dropped the dead one).
 *
 * Safe for every request the device client makes, although the first attempt may have reached
 * the appliance before the connection broke (a reset after the request was read):
 * - token requests: a repeated redemption of the same device code by the same client and key
 *   within `redemptionRetryWindow` gets a fresh token set of the same family and revokes the
 *   unanswered one (docs/security.md REDEEM-RETRY); a repeated refresh of the same predecessor
 *   within `refreshRetryWindow` does the same for the rotation (REFRESH-RETRY); a repeated poll
 *   before approval is one more poll (RFC 8628 §3.5 counts it against the interval at worst);
 * - device authorization: a second request only makes a second code, and the first, never shown
 *   to anyone, expires unused (RFC 8628 §3.2);
 * - revocation is idempotent (RFC 7009 §2.2), discovery and metadata are GETs.
 * `init` is called per attempt so each carries a fresh DPoP proof (RFC 9449 §11.1: a jti is used
 * once).
 */
export async function fetchOnceMoreOnStaleConnection(
  fetch: FetchFunction,
  url: string | URL,
  init: () => RequestInit | Promise<RequestInit>,
): Promise<Response> {
  const first = await init();
  try {
    return await fetch(url, first);
  } catch (error) {
    if (first.signal?.aborted || !closedBeforeAnswer(error)) throw error;
    return fetch(url, await init());
  }
}

async function send(url: string, init: () => Promise<RequestInit>, options: RequestOptions): Promise<HttpOutcome> {
  let response: Response;
  const signal = requestSignal(options);
  try {
    response = await fetchOnceMoreOnStaleConnection(options.fetch, url, async () => ({ ...(await init()), signal, redirect: 'error' }));
  } catch (error) {
    if (options.signal?.aborted) throw abortedError(options.signal);
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const detail = cause?.code ?? cause?.message ?? (error as Error).message;
    throw new DeviceClientError('network', oneLine(`cannot reach ${new URL(url).origin}: ${detail}`), { cause: error });
  }
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    if (options.signal?.aborted) throw abortedError(options.signal);
    throw new DeviceClientError('network', `connection to ${new URL(url).origin} broke during the answer`, { cause: error });
  }
  let body: unknown;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (response.status >= 500) {
    throw new DeviceClientError('server', `${new URL(url).origin} answered HTTP ${response.status}`, { status: response.status });
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new DeviceClientError('server', `${url} answered HTTP ${response.status} without a JSON object`, {
      status: response.status,
    });
  }
  const record = body as Record<string, unknown>;
  if (response.ok) return { ok: true, status: response.status, body: record, headers: response.headers };
  if (typeof record.error !== 'string') {
    throw new DeviceClientError('server', `${url} answered HTTP ${response.status} without an OAuth error`, {
      status: response.status,
    });
  }
  return {
    ok: false,
    status: response.status,
    error: record.error,
    ...(typeof record.error_description === 'string' ? { description: record.error_description } : {}),
    body: record,
    headers: response.headers,
  };
}

async function extraHeaders(options: RequestOptions): Promise<Record<string, string>> {
  return typeof options.headers === 'function' ? options.headers() : (options.headers ?? {});
}

export function getJson(url: string, options: RequestOptions): Promise<HttpOutcome> {
  return send(url, async () => ({ method: 'GET', headers: { ...(await extraHeaders(options)), accept: 'application/json' } }), options);
}

/** application/x-www-form-urlencoded POST with client authentication (RFC 6749 §2.3.1). */
export function postForm(
  url: string,
  params: Record<string, string | undefined>,
  client: ClientCredentials,
  options: RequestOptions,
): Promise<HttpOutcome> {
  const form = new URLSearchParams();
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  if (client.clientSecret !== undefined && client.authMethod !== 'client_secret_post') {
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before being joined for Basic.
    const user = encodeURIComponent(client.clientId);
    const password = encodeURIComponent(client.clientSecret);
    headers.authorization = `Basic ${textToBase64(`${user}:${password}`)}`;
  } else {
    form.set('client_id', client.clientId);
    if (client.clientSecret !== undefined) form.set('client_secret', client.clientSecret);
  }
  for (const [name, value] of Object.entries(params)) if (value !== undefined) form.set(name, value);
  const body = form.toString();
  return send(url, async () => ({ method: 'POST', headers: { ...(await extraHeaders(options)), ...headers }, body }), options);
}

/** "invalid_client: client authentication failed" from an OAuth error answer. */
export function describeOAuthError(outcome: { error: string; description?: string }): string {
  return oneLine(outcome.description ? `${outcome.error}: ${outcome.description}` : outcome.error).slice(0, 300);
}

/** Seconds from a Retry-After header (delta-seconds only; dates are rare from OAuth servers). */
export function retryAfterSeconds(headers: Headers): number | undefined {
  const value = headers.get('retry-after');
  if (!value || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}
