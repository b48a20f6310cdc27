import type { Logger } from 'pino';
import type { EventBus } from './bus/types.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { DpopService } from './dpop/index.ts';
import type { ReplayCache } from './dpop/replay-cache.ts';
import type { ClientAuthenticator } from './http/client-auth.ts';
import type { KeyStore } from './keys/keystore.ts';
import type { ApprovalService, DeviceAuthorizer, ExpiryScheduler } from './device-grants/index.ts';
import type { Metrics } from './observability/metrics.ts';
import type { WebhookDispatcher } from './webhooks/dispatcher.ts';
import type { AuditLog } from './services/audit.ts';
import type { ConsentFlows } from './services/consent-flows.ts';
import type { KnownBrowsers } from './services/known-browsers.ts';
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
  /** Creates device grants (RFC 8628 §3.1): the device authorization endpoint's one write. */
  authorizeDevice: DeviceAuthorizer;
  /** Approve or deny a waiting device grant: the verification pages and tools decide through it. */
  approval: ApprovalService;
  /** Publishes `expired` when a device code's lifetime ends; push channels and the sweeper use it. */
  expiry: ExpiryScheduler;
  /** Prometheus metrics (observability/metrics.ts); `noMetrics` when metrics are off. */
  metrics: Metrics;
  /** OpenTelemetry spans are made (observability/tracing.ts); false: none of its wrappers exist. */
  tracing: boolean;
  /** Delivers the webhook outbox (webhooks/dispatcher.ts); `serve` starts it. */
  webhooks: WebhookDispatcher;
  /** User code entry for the verification pages: brute-force limits and the global guess alarm around approval.findPending. */
  userCodeEntry: UserCodeEntry;
  /** Tickets that bind consent to the browser flow that typed the user code. */
  consentFlows: ConsentFlows;
  /** Tickets of browsers that signed in to an account before: their sign-ins are not locked out by others' failures. */
  knownBrowsers: KnownBrowsers;
}
