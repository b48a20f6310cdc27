import type { PushEndpoints } from '@devicegate/protocol';
import type { Logger } from 'pino';
import type { EventBus } from './bus/types.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { DpopService } from './dpop/index.ts';
import type { ReplayCache } from './dpop/replay-cache.ts';
import type { ClientAuthenticator } from './http/client-auth.ts';
import type { KeyStore } from './keys/keystore.ts';
import type { ApprovalService } from './services/approval.ts';
import type { AuditLog } from './services/audit.ts';
import type { RateLimits } from './services/rate-limits.ts';
import type { UserCodeEntry } from './services/user-code-entry.ts';
import type { Store } from './store/types.ts';
import type { AccessTokenVerifier } from './tokens/access-token-verifier.ts';
import type { TokenService } from './tokens/token-service.ts';

/**
 * Everything a request handler may use, built once by createAppContext and passed in: no
 * module-level singletons, so tests build the real thing around a temp directory and a clock.
 */
export interface AppContext {
  config: Config;
  store: Store;
  keys: KeyStore;
  clock: Clock;
  bus: EventBus;
  logger: Logger;
  audit: AuditLog;
  rateLimits: RateLimits;
  tokens: TokenService;
  accessTokens: AccessTokenVerifier;
  authenticateClient: ClientAuthenticator;
  /** DPoP proofs (RFC 9449) at the token endpoint and userinfo, with server nonces. */
  dpop: DpopService;
  /** Single-use jti of DPoP proofs and client assertions. */
  replayCache: ReplayCache;
  approval: ApprovalService;
  /** User code entry for the verification pages: brute-force limits and the global guess alarm around approval.findPending. */
  userCodeEntry: UserCodeEntry;
  /** Where a device may wait for the outcome of a grant; {} when no push channel is enabled. */
  pushEndpoints: (pushKey: string) => PushEndpoints;
  /**
   * Called at device authorization, while the plaintext device code is at hand, before the answer
   * goes out (push modules that must tell a broker about the grant: push.mqttAuth = dynsec).
   */
  deviceAuthorizedHooks: Array<(grant: { pushKey: string; deviceCode: string; expiresAt: number }) => Promise<void>>;
}
