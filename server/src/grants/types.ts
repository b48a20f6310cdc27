import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import type { ClientRecord, GrantType } from '../store/types.js';
import type { TokenResponse } from '../tokens/token-service.js';

/** One grant type at the token endpoint (after fosite's handlers and oidc-provider's grants/). */
export type GrantHandler = (input: {
  context: AppContext;
  request: FastifyRequest;
  parameters: Record<string, string>;
  client: ClientRecord;
}) => Promise<TokenResponse>;

export type GrantHandlers = Record<GrantType, GrantHandler>;
