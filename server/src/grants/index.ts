import { clientCredentialsGrant } from './client-credentials.ts';
import { deviceCodeGrant } from './device-code.ts';
import { refreshTokenGrant } from './refresh-token.ts';
import type { GrantHandlers } from './types.ts';

export const DEVICE_CODE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';

/** The table the token endpoint dispatches on; a new grant is one entry here. */
export const grantHandlers: GrantHandlers = {
  [DEVICE_CODE_GRANT_TYPE]: deviceCodeGrant,
  refresh_token: refreshTokenGrant,
  client_credentials: clientCredentialsGrant,
};
