import { clientCredentialsGrant } from './client-credentials.js';
import { deviceCodeGrant } from './device-code.js';
import { refreshTokenGrant } from './refresh-token.js';
import type { GrantHandlers } from './types.js';

export const DEVICE_CODE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';

/** The table the token endpoint dispatches on; a new grant is one entry here. */
export const grantHandlers: GrantHandlers = {
  [DEVICE_CODE_GRANT_TYPE]: deviceCodeGrant,
  refresh_token: refreshTokenGrant,
  client_credentials: clientCredentialsGrant,
};
