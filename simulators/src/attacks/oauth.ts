import { discover, type AuthorizationServerMetadata, type FetchFunction } from '@devicegate/device-client';

/**
 * Raw OAuth requests for the attack scenarios. An attacker does not use the well-behaved client
 * library, so these are plain form POSTs that do exactly what the attack needs and nothing more.
 */
export interface RawAnswer {
  status: number;
  body: Record<string, unknown>;
}

export interface RawClient {
  metadata: AuthorizationServerMetadata;
  deviceAuthorization(scope: string): Promise<{ deviceCode: string; userCode: string; verificationUri: string; interval: number }>;
  token(parameters: Record<string, string>): Promise<RawAnswer>;
}

const GRANT_DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
export { GRANT_DEVICE_CODE };

async function postForm(fetch: FetchFunction, url: string, parameters: Record<string, string>): Promise<RawAnswer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(parameters).toString(),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>;
  } catch {
    body = { error: `non-JSON answer (${text.slice(0, 60)})` };
  }
  return { status: response.status, body };
}

export async function createRawClient(issuer: string, clientId: string, fetch: FetchFunction): Promise<RawClient> {
  const metadata = await discover(issuer, { fetch });
  return {
    metadata,
    async deviceAuthorization(scope) {
      const answer = await postForm(fetch, metadata.device_authorization_endpoint, { client_id: clientId, scope });
      if (answer.status !== 200) throw new Error(`device authorization answered ${answer.status} ${String(answer.body.error ?? '')}`);
      const { device_code: deviceCode, user_code: userCode, verification_uri: verificationUri, interval } = answer.body;
      if (typeof deviceCode !== 'string' || typeof userCode !== 'string' || typeof verificationUri !== 'string') {
        throw new Error('device authorization answer lacks device_code, user_code or verification_uri');
      }
      return { deviceCode, userCode, verificationUri, interval: typeof interval === 'number' ? interval : 5 };
    },
    token: (parameters) => postForm(fetch, metadata.token_endpoint, { client_id: clientId, ...parameters }),
  };
}

export const errorOf = (answer: RawAnswer) => (typeof answer.body.error === 'string' ? answer.body.error : `HTTP ${answer.status}`);
