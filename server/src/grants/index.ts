import { clientCredentialsGrant } from './client-credentials.ts';
import { deviceCodeGrant } from './device-code.ts';
import { refreshTokenGrant } from './refresh-token.ts';
import { tokenExchangeGrant } from './token-exchange.ts';
import type { GrantDescriptor } from './types.ts';

/**
 * The grants the token endpoint offers, in the order discovery lists them. A new grant is one
 * entry here (and its own file): the token endpoint, discovery and the CLI derive from this list.
 */
export const grants: readonly GrantDescriptor[] = [deviceCodeGrant, refreshTokenGrant, clientCredentialsGrant, tokenExchangeGrant];

export const DEVICE_CODE_GRANT_TYPE = deviceCodeGrant.type;

const byType = new Map(grants.map((grant) => [grant.type, grant]));

/** The grant registered for a grant_type value, if any. */
export function grantOfType(type: string): GrantDescriptor | undefined {
  return byType.get(type);
}

/** What an operator may write for a grant: its short name or its full grant_type value. */
export function grantOfName(name: string): GrantDescriptor | undefined {
  return grants.find((grant) => grant.name === name) ?? byType.get(name);
}
