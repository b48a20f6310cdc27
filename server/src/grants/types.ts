import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../context.ts';
import type { ClientRecord } from '../store/types.ts';
import type { TokenResponse } from '../tokens/token-service.ts';

/** One grant type at the token endpoint (after fosite's handlers and oidc-provider's grants/). */
export type GrantHandler = (input: {
  context: AppContext;
  request: FastifyRequest;
  parameters: Record<string, string>;
  client: ClientRecord;
  /**
   * JWK thumbprint of the request's valid DPoP proof (RFC 9449 §5), or null without one; the
   * token endpoint has already checked the proof. Access tokens are bound to it (`cnf.jkt`).
   */
  dpopJkt: string | null;
  /** Every `resource` parameter of the request (RFC 8707 §2.2), unchecked; empty without any. */
  resources: string[];
}) => Promise<TokenResponse>;

/**
 * One grant type, described once (after oidc-provider's lib/actions/grants/ and fosite's
 * handlers): the token endpoint dispatches on `type`, checks `parameters` before the handler
 * runs, discovery lists every registered `type` in grant_types_supported, and the CLI accepts
 * `name` in `clients add --grant-types`. A new grant is its file and one line in grants/index.ts.
 */
export interface GrantDescriptor {
  /** The grant_type value (RFC 6749 §4, or an extension URN such as RFC 8628's). */
  type: string;
  /** Short name for operators (`devicegate clients add --grant-types <name>,...`). */
  name: string;
  /** Request parameters the grant requires beside grant_type: invalid_request when missing. */
  parameters: readonly string[];
  handler: GrantHandler;
}
