import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../context.ts';
import type { ClientRecord, GrantType } from '../store/types.ts';
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
}) => Promise<TokenResponse>;

export type GrantHandlers = Record<GrantType, GrantHandler>;
