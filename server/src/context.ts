import type { PushEndpoints } from '@devicegate/protocol';
import type { Logger } from 'pino';
import type { EventBus } from './bus/types.js';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import type { DpopService } from './dpop/index.js';
import type { ReplayCache } from './dpop/replay-cache.js';
import type { ClientAuthenticator } from './http/client-auth.js';
import type { KeyStore } from './keys/keystore.js';
import type { ApprovalService } from './services/approval.js';
import type { AuditLog } from './services/audit.js';
import type { RateLimits } from './services/rate-limits.js';
import type { UserCodeEntry } from './services/user-code-entry.js';
import type { Store } from './store/types.js';
import type { AccessTokenVerifier } from './tokens/access-token-verifier.js';
import type { TokenService } from './tokens/token-service.js';

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
