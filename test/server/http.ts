// Small HTTP helpers for tests that talk to a running appliance the way a device or a resource
// server does: form-encoded POSTs, Basic credentials, the device flow step by step.
import assert from 'node:assert/strict';
import type { TestAppliance } from '../support/appliance.ts';

export const DEVICE_CODE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';

export interface HttpResult {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/** RFC 6749 §2.3.1: client id and secret are form-encoded, then joined and base64-encoded. */
export function basicAuthorization(clientId: string, secret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}`;
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** POST application/x-www-form-urlencoded (a string body is sent as is). */
export async function postForm(
  base: string,
  path: string,
  parameters: Record<string, string> | URLSearchParams | string,
  headers: Record<string, string> = {},
): Promise<HttpResult> {
  const body = typeof parameters === 'string' ? parameters : new URLSearchParams(parameters).toString();
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, headers: response.headers, body: await readBody(response) };
}

export async function request(base: string, path: string, init: RequestInit = {}): Promise<HttpResult> {
  const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(15_000), ...init });
  return { status: response.status, headers: response.headers, body: await readBody(response) };
}

export interface DeviceAuthorization {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

export async function deviceAuthorize(
  dg: TestAppliance,
  parameters: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<DeviceAuthorization> {
  const result = await postForm(dg.issuer, '/oauth/device_authorization', parameters, headers);
  assert.equal(result.status, 200, `device authorization failed: ${JSON.stringify(result.body)}`);
  return result.body as DeviceAuthorization;
}

export function pollToken(
  dg: TestAppliance,
  clientId: string,
  deviceCode: string,
  headers: Record<string, string> = {},
): Promise<HttpResult> {
  return postForm(dg.issuer, '/oauth/token', { grant_type: DEVICE_CODE_GRANT_TYPE, client_id: clientId, device_code: deviceCode }, headers);
}

export interface TokenSet {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
}

/**
 * A complete device flow for a public client: authorize, approve through the approval service
 * (as the verification pages do), redeem. Returns the token response.
 */
export async function signInDevice(
  dg: TestAppliance,
  options: { clientId?: string; scope?: string; userId?: string; grantedScopes?: string[] } = {},
): Promise<{ tokens: TokenSet; authorization: DeviceAuthorization }> {
  const clientId = options.clientId ?? 'demo-tv';
  const authorization = await deviceAuthorize(dg, { client_id: clientId, scope: options.scope ?? 'openid profile email offline_access' });
  const approved = await dg.appliance.context.approval.approveUserCode(authorization.user_code, options.userId ?? dg.demoUserId, options.grantedScopes);
  assert.equal(approved, true, 'approval failed');
  const result = await pollToken(dg, clientId, authorization.device_code);
  assert.equal(result.status, 200, `redemption failed: ${JSON.stringify(result.body)}`);
  return { tokens: result.body as TokenSet, authorization };
}

export function refresh(dg: TestAppliance, clientId: string, refreshToken: string, extra: Record<string, string> = {}): Promise<HttpResult> {
  return postForm(dg.issuer, '/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: refreshToken, ...extra });
}

/** Introspects with a confidential client that may introspect (see `addIntrospector`). */
export async function introspect(dg: TestAppliance, token: string, introspector: { clientId: string; secret: string }): Promise<HttpResult> {
  return postForm(dg.issuer, '/oauth/introspect', { token }, { authorization: basicAuthorization(introspector.clientId, introspector.secret) });
}

const INTROSPECTOR = { clientId: 'resource-server', secret: 'resource-server-secret-0123456789' } as const;

/** A confidential client allowed to introspect, as an API behind devicegate would be. */
export async function addIntrospector(dg: TestAppliance): Promise<{ clientId: string; secret: string }> {
  await dg.addClient(
    { clientId: INTROSPECTOR.clientId, grantTypes: ['client_credentials'], scopes: ['api'], mayIntrospect: true },
    INTROSPECTOR.secret,
  );
  return { ...INTROSPECTOR };
}
