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
  /** More request headers (a DPoP proof). */
  headers?: Record<string, string>;
}

function requestSignal(options: RequestOptions): AbortSignal {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  return options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
}

async function send(url: string, init: RequestInit, options: RequestOptions): Promise<HttpOutcome> {
  let response: Response;
  try {
    response = await options.fetch(url, { ...init, signal: requestSignal(options), redirect: 'error' });
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

export function getJson(url: string, options: RequestOptions): Promise<HttpOutcome> {
  return send(url, { method: 'GET', headers: { accept: 'application/json' } }, options);
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
    ...options.headers,
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
  return send(url, { method: 'POST', headers, body: form.toString() }, options);
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
