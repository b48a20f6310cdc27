// A product site's side of devicegate's approval API (docs/approval-api.yaml), with nothing but
// fetch: the calls a site makes for a person it has signed in itself.

export interface ApprovalApiOptions {
  /** devicegate's issuer URL, e.g. https://login.example.com */
  devicegateUrl: string;
  /** A confidential client granted `--approves-devices-of` (devicegate clients add/update). */
  clientId: string;
  clientSecret: string;
}

export interface ApiError {
  status: number;
  error: string;
  error_description?: string;
}

export type ApiResult<T> = { ok: true; status: number; value: T } | { ok: false; status: number; error: ApiError };

export interface DeviceRequest {
  client_id: string;
  client_name: string;
  device_name: string | null;
  device_model: string | null;
  requested_from: string | null;
  scope: string;
  expires_at: number;
}

export interface SignedInDevice {
  grant_id: string;
  client_id: string;
  client_name: string;
  device_name: string | null;
  device_model: string | null;
  scope: string;
  created_at: number;
  last_used_at: number | null;
}

export interface PersonClaims {
  name?: string | null;
  email?: string | null;
  email_verified?: boolean;
}

export function createApprovalClient(options: ApprovalApiOptions) {
  const base = `${options.devicegateUrl.replace(/\/+$/, '')}/api/v1`;
  // RFC 6749 §2.3.1: id and secret form-encoded, then base64.
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  const authorization = `Basic ${Buffer.from(`${encode(options.clientId)}:${encode(options.clientSecret)}`).toString('base64')}`;

  async function call<T>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
    if (response.ok) return { ok: true, status: response.status, value: parsed as T };
    return { ok: false, status: response.status, error: { status: response.status, ...(parsed as { error: string; error_description?: string }) } };
  }

  const person = (subject: string) => `/subjects/${encodeURIComponent(subject)}/devices`;

  return {
    /** What is asking: show it to the person before they agree. */
    lookup: (userCode: string) => call<DeviceRequest>('POST', '/device-requests/lookup', { user_code: userCode }),
    /** The person agreed to `scope` (space-separated; absent: all the device asked for). */
    approve: (input: { userCode: string; subject: string; claims?: PersonClaims; scope?: string; authTime?: number }) =>
      call<{ status: 'approved'; client_id: string; device_name: string | null; scope: string }>('POST', '/device-requests/approve', {
        user_code: input.userCode,
        subject: input.subject,
        ...(input.claims ? { claims: input.claims } : {}),
        ...(input.scope !== undefined ? { scope: input.scope } : {}),
        ...(input.authTime !== undefined ? { auth_time: input.authTime } : {}),
      }),
    deny: (userCode: string) => call<{ status: 'denied' }>('POST', '/device-requests/deny', { user_code: userCode }),
    listDevices: (subject: string) => call<{ devices: SignedInDevice[] }>('GET', person(subject)),
    signOutDevice: (subject: string, grantId: string) => call<undefined>('DELETE', `${person(subject)}/${encodeURIComponent(grantId)}`),
  };
}

export type ApprovalClient = ReturnType<typeof createApprovalClient>;
