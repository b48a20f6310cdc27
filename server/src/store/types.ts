import { DevicegateError } from '../errors.ts';

/**
 * The storage interfaces of the appliance, one per concern (after ory/fosite), so a backend
 * implements only what it must. Every method is async so PostgreSQL can implement the same
 * interface as SQLite. Single-use and rotation guarantees are expressed as conditional
 * operations ("decide only if still pending", "redeem only if approved") so each backend can
 * make them atomic with one conditional UPDATE, never with process memory.
 *
 * Secrets never reach the store in clear: device codes, refresh tokens, opaque access tokens and
 * client secrets arrive as hashes (see ../secrets.ts). All instants are epoch milliseconds;
 * lifetimes and intervals named in the RFCs are seconds.
 */

export type TokenFormat = 'jwt' | 'opaque';
/** A grant_type value of a registered grant (grants/index.ts); the store keeps what it is given. */
export type GrantType = string;

export interface ClientRecord {
  clientId: string;
  name: string;
  /** Confidential clients have a secret hash; public clients (every device) have none. */
  secretHash: string | null;
  grantTypes: GrantType[];
  scopes: string[];
  /** Device authorization lifetime in seconds (RFC 8628 §3.2 expires_in). */
  deviceCodeLifetime: number;
  /** Minimum polling interval in seconds (RFC 8628 §3.2 interval). */
  pollInterval: number;
  accessTokenFormat: TokenFormat;
  mayIntrospect: boolean;
  /** Audience of access tokens issued to this client. */
  audience: string | null;
  /** Operators can block a client at once (RFC 10027 §6); blocked clients get invalid_client. */
  disabled: boolean;
  dpopRequired: boolean;
  /**
   * RFC 7523 private_key_jwt: the client's public keys as an inline JWK Set, or the URL of one
   * (fetched and cached, rotation aware). A client with either authenticates with signed
   * assertions and is confidential; one with neither and no secret is public.
   */
  jwks: { keys: Record<string, unknown>[] } | null;
  jwksUri: string | null;
  /** Cross-device phishing controls (RFC 10027 §6; docs/security.md "Cross-device phishing controls"). */
  phishing: PhishingControls;
  /** RFC 7591 §2 logo_uri: an https image the consent page shows beside the client's name. */
  logoUri: string | null;
  /**
   * How the client came to be: by an operator, by dynamic registration (RFC 7591), or from its
   * client id metadata document. Self-registered clients are shown as unverified on consent.
   */
  registration: ClientRegistration;
  /**
   * Web origins (scheme://host[:port]) a browser app of this client runs on: the device
   * authorization, token, revocation and userinfo endpoints answer CORS for these only, and refuse a
   * request carrying any other Origin before it changes anything (docs/security.md CORS-ORIGIN).
   * Empty: no browser may use this client.
   */
  allowedOrigins: string[];
  /**
   * Client ids whose waiting devices this client may approve from its own site through the
   * approval API (endpoints/approval-api.ts, docs/security.md API-CREDENTIAL-THEFT); empty: it may
   * not call that API at all (403).
   */
  approvesDevicesOf: string[];
  createdAt: number;
}

export type ClientRegistration = 'operator' | 'dynamic' | 'metadata_document';

/** Per-client defences against device code phishing (RFC 10027 §6), all off by default. */
export interface PhishingControls {
  /** CIDR blocks device authorization is allowed from; empty: anywhere. */
  allowedNetworks: string[];
  /** Approval is refused when the approving browser is not on the device's network. */
  sameNetworkRequired: boolean;
  /** Only devices holding a key the operator enrolled (`devicegate devices enroll`) get a code. */
  registeredDevicesOnly: boolean;
  /** User codes never start with these (normalized) prefixes. */
  userCodeDenyPrefixes: string[];
  /** A device name that reads like instructions is shown neutralised, or refused at authorization. */
  deviceNameFilter: 'neutralise' | 'refuse';
}

export const noPhishingControls: PhishingControls = Object.freeze({
  allowedNetworks: [],
  sameNetworkRequired: false,
  registeredDevicesOnly: false,
  userCodeDenyPrefixes: [],
  deviceNameFilter: 'neutralise',
}) as PhishingControls;

/** A device key the operator enrolled for a client ("registered devices only"). */
export interface RegisteredDeviceRecord {
  id: string;
  clientId: string;
  /** RFC 7638 thumbprint (SHA-256) of the device's DPoP public key. */
  jkt: string;
  name: string | null;
  createdAt: number;
}

export interface RegisteredDevices {
  /** False when the key is already enrolled for that client. */
  enroll(device: RegisteredDeviceRecord): Promise<boolean>;
  find(clientId: string, jkt: string): Promise<RegisteredDeviceRecord | null>;
  list(clientId?: string): Promise<RegisteredDeviceRecord[]>;
  remove(id: string): Promise<boolean>;
}

export interface UserRecord {
  id: string;
  username: string;
  /** Empty for a person who signs in only through an upstream provider: no password matches it. */
  passwordHash: string;
  name: string | null;
  email: string | null;
  emailVerified: boolean;
  disabled: boolean;
  createdAt: number;
}

export type DeviceGrantStatus = 'pending' | 'approved' | 'denied' | 'redeemed';

export interface DeviceGrantRecord {
  id: string;
  deviceCodeHash: string;
  /** Normalized (8 characters, no dash). Unique among live grants. */
  userCode: string;
  clientId: string;
  scopes: string[];
  deviceName: string | null;
  deviceModel: string | null;
  /** Network address the device asked from, shown on the consent page (RFC 10027). */
  requestedFrom: string | null;
  /** MQTT topic suffix / push key, derived one-way from the device code hash. */
  pushKey: string;
  status: DeviceGrantStatus;
  createdAt: number;
  expiresAt: number;
  /** Current polling interval in seconds; every slow_down grows it for good (../device-grants/pacing.ts). */
  interval: number;
  lastPolledAt: number | null;
  userId: string | null;
  grantedScopes: string[] | null;
  authTime: number | null;
  /** How the approving person authenticated (OIDC Core §2 amr, acr), for the ID token. */
  amr: string[] | null;
  acr: string | null;
  decidedAt: number | null;
  /** The authorization grant (token family) created when the code was redeemed. */
  grantId: string | null;
  /** JWK thumbprint the tokens are bound to (DPoP), when the device used DPoP. */
  dpopJkt: string | null;
  /**
   * Registered resource servers the device asked for (RFC 8707 §2), shown on the consent page;
   * empty when it named none (then tokens carry the client's audience).
   */
  resources: string[];
  /**
   * W3C traceparent of the device authorization, when it was traced: approval and redemption
   * join its trace, on whichever instance they happen (../observability/tracing.ts).
   */
  traceParent: string | null;
}

export type NewDeviceGrant = Pick<
  DeviceGrantRecord,
  | 'id'
  | 'deviceCodeHash'
  | 'userCode'
  | 'clientId'
  | 'scopes'
  | 'deviceName'
  | 'deviceModel'
  | 'requestedFrom'
  | 'pushKey'
  | 'createdAt'
  | 'expiresAt'
  | 'interval'
  | 'resources'
> &
  Partial<Pick<DeviceGrantRecord, 'traceParent'>>;

export type PollVerdict =
  | { kind: 'ok'; grant: DeviceGrantRecord }
  | { kind: 'slow_down'; grant: DeviceGrantRecord }
  | { kind: 'unknown' };

export type Decision =
  | { status: 'approved'; userId: string; grantedScopes: string[]; authTime: number; amr: string[]; acr: string | null }
  | { status: 'denied'; userId: string | null };

export interface DeviceGrants {
  /** Throws UserCodeTakenError when the user code collides with a live one. */
  create(grant: NewDeviceGrant): Promise<void>;
  findByDeviceCodeHash(deviceCodeHash: string): Promise<DeviceGrantRecord | null>;
  /** Live (not expired) grants only; `userCode` is normalized. */
  findLiveByUserCode(userCode: string, now: number): Promise<DeviceGrantRecord | null>;
  findById(id: string): Promise<DeviceGrantRecord | null>;
  /**
   * Records one poll atomically and judges it by the pacing rule of ../device-grants/pacing.ts
   * (RFC 8628 §3.5: a poll sooner than the current interval after the previous one answers
   * slow_down and grows the interval for good). A poll naming another client than the grant's is
   * `unknown` and changes nothing, so nobody but the device's own client can push its interval up.
   */
  recordPoll(deviceCodeHash: string, clientId: string, now: number): Promise<PollVerdict>;
  /** Approve or deny; true only for the one caller that moved a live pending grant. */
  decide(id: string, decision: Decision, now: number): Promise<boolean>;
  /**
   * Moves an approved grant to redeemed, recording the token family id; returns the grant for
   * the one caller that won, null for everyone else (RFC 8628 §3.5: a code is used once).
   */
  redeem(id: string, grantId: string, dpopJkt: string | null, now: number): Promise<DeviceGrantRecord | null>;
  /**
   * Claims device grants whose lifetime has ended unredeemed (pending, approved or denied), oldest
   * first, at most `limit`: each is returned to exactly one caller, once, across every instance
   * sharing the store (device-grants/expiry.ts publishes what each claim means).
   */
  claimExpired(now: number, limit: number): Promise<DeviceGrantRecord[]>;
  /** Deletes rows that expired more than `retainSeconds` ago; returns how many. */
  sweep(now: number, retainSeconds: number): Promise<number>;
}

/** An authorization grant: the family of tokens that one approval produced. */
export interface GrantRecord {
  id: string;
  clientId: string;
  userId: string | null;
  scopes: string[];
  deviceName: string | null;
  deviceModel: string | null;
  authTime: number | null;
  amr: string[] | null;
  acr: string | null;
  createdAt: number;
  lastUsedAt: number | null;
  /** Absolute end of the family (RFC 9700 §4.14.2: cap total rotation lifetime). */
  expiresAt: number;
  revokedAt: number | null;
  revokedReason: string | null;
  dpopJkt: string | null;
  /** The resource servers the person consented to (RFC 8707): the widest any token of it may reach. */
  resources: string[];
}

export interface Grants {
  create(grant: Omit<GrantRecord, 'lastUsedAt' | 'revokedAt' | 'revokedReason'>): Promise<void>;
  get(id: string): Promise<GrantRecord | null>;
  listByUser(userId: string): Promise<GrantRecord[]>;
  list(options: { activeOnly: boolean; now: number }): Promise<GrantRecord[]>;
  touch(id: string, now: number): Promise<void>;
  /** Revokes the grant and every refresh and access token of it; false if already revoked/unknown. */
  revoke(id: string, now: number, reason: string): Promise<boolean>;
}

export interface RefreshTokenRecord {
  tokenHash: string;
  grantId: string;
  clientId: string;
  scopes: string[];
  createdAt: number;
  expiresAt: number;
  /** Set when this token was exchanged for its successor. */
  rotatedAt: number | null;
  revokedAt: number | null;
}

export type RotateResult =
  | { kind: 'rotated'; previous: RefreshTokenRecord }
  | { kind: 'reused'; previous: RefreshTokenRecord }
  | { kind: 'invalid' };

export interface RefreshTokens {
  create(token: Omit<RefreshTokenRecord, 'rotatedAt' | 'revokedAt'>): Promise<void>;
  find(tokenHash: string): Promise<RefreshTokenRecord | null>;
  /**
   * Atomically retires `oldHash` and stores its successor. `reused` when the old token had already
   * been rotated (RFC 9700 §4.14.2: the caller revokes the whole grant); `invalid` when unknown,
   * revoked or expired.
   */
  rotate(oldHash: string, successor: Omit<RefreshTokenRecord, 'rotatedAt' | 'revokedAt'>, now: number): Promise<RotateResult>;
  revoke(tokenHash: string, now: number): Promise<RefreshTokenRecord | null>;
  sweep(now: number): Promise<number>;
}

export type NewGrant = Omit<GrantRecord, 'lastUsedAt' | 'revokedAt' | 'revokedReason'>;
export type NewRefreshToken = Omit<RefreshTokenRecord, 'rotatedAt' | 'revokedAt'>;
export type NewAccessToken = Omit<AccessTokenRecord, 'revokedAt'>;

/**
 * A device code redeemed into tokens in one commit: the code's move to redeemed, the grant and
 * its tokens are written together or not at all (docs/security.md REDEEM-ATOMIC). The caller
 * mints the tokens first; the store writes them under the family it decides on.
 */
export interface DeviceCodeRedemption {
  deviceGrantId: string;
  clientId: string;
  /** The key of the redeeming DPoP proof (RFC 9449 §5), or null. */
  dpopJkt: string | null;
  now: number;
  /**
   * How long after the redemption the same client, with the same DPoP key, may present the code
   * again and get a fresh token set for the same family (docs/security.md REDEEM-RETRY); 0: never.
   */
  retryWindowMs: number;
  /** The family to create on the first redemption (its id is the new grant's). */
  grant: NewGrant;
  /** grantId is replaced by the family's id. */
  accessToken: NewAccessToken;
  /** grantId is replaced by the family's id; expiresAt is capped at the family's end. */
  refreshToken: NewRefreshToken | null;
}

export type RedemptionResult =
  /** The code was approved and is now redeemed into the new family `grantId`. */
  | { kind: 'redeemed'; grantId: string; deviceGrant: DeviceGrantRecord }
  /** A retry within the window: fresh tokens for the family `grantId`; its earlier tokens are revoked. */
  | { kind: 'retried'; grantId: string; deviceGrant: DeviceGrantRecord }
  /** Not approved, already redeemed and no retry allowed, or unknown: nothing was written. */
  | { kind: 'refused' };

/**
 * One refresh in one commit: the presented token retired, its successor and the new access token
 * stored, the family touched; or, for reuse, the whole family revoked (RFC 9700 §4.14.2).
 */
export interface RefreshExchange {
  presentedHash: string;
  successor: NewRefreshToken;
  accessToken: NewAccessToken;
  now: number;
  /**
   * How long after its rotation the immediate predecessor of an unused successor may be presented
   * again and get a new successor in place of that one (docs/security.md REFRESH-RETRY); 0: never.
   */
  retryWindowMs: number;
  /** Recorded as the family's revokedReason when this exchange is reuse. */
  reuseReason: string;
}

export type RefreshResult =
  | { kind: 'rotated'; previous: RefreshTokenRecord }
  /** The predecessor presented again within the window: the unused successor was revoked. */
  | { kind: 'retried'; previous: RefreshTokenRecord }
  /** A rotated token presented outside the rules above: the family is revoked now. */
  | { kind: 'reused'; previous: RefreshTokenRecord }
  | { kind: 'invalid' };

/**
 * The writes of the token endpoint that must commit together (one transaction each; SQLite runs
 * them in its per-turn group commit, store/turn-batch.ts). The caller is answered only after the
 * commit, so an answer the device never receives leaves a state its retry can recover from.
 */
export interface TokenExchanges {
  redeemDeviceCode(redemption: DeviceCodeRedemption): Promise<RedemptionResult>;
  refresh(exchange: RefreshExchange): Promise<RefreshResult>;
}

/** Every access token issued, so JWTs can be revoked and opaque tokens looked up. */
export interface AccessTokenRecord {
  jti: string;
  /**
   * SHA-256 of the whole token string, opaque or JWT (tokens/access-token-verifier.ts finds an
   * issued token by it); null for JWTs issued before their hash was stored, which are verified by
   * signature and found by `jti`.
   */
  tokenHash: string | null;
  grantId: string | null;
  clientId: string;
  subject: string;
  scopes: string[];
  audience: string;
  issuedAt: number;
  expiresAt: number;
  dpopJkt: string | null;
  /**
   * RFC 8693 §4.1: who acted for the subject, for a token made by token exchange (the exchanging
   * client as `sub`, earlier actors nested in `act`); null for every other token.
   */
  act: Actor | null;
  revokedAt: number | null;
}

/** An RFC 8693 §4.1 `act` claim: the current actor, and the one before it, if any. */
export interface Actor {
  sub: string;
  act?: Actor;
}

export interface AccessTokens {
  create(token: Omit<AccessTokenRecord, 'revokedAt'>): Promise<void>;
  findByJti(jti: string): Promise<AccessTokenRecord | null>;
  findByTokenHash(tokenHash: string): Promise<AccessTokenRecord | null>;
  revoke(jti: string, now: number): Promise<boolean>;
  sweep(now: number): Promise<number>;
}

export interface Clients {
  get(clientId: string): Promise<ClientRecord | null>;
  list(): Promise<ClientRecord[]>;
  /** Inserts or replaces. */
  put(client: ClientRecord): Promise<void>;
  remove(clientId: string): Promise<boolean>;
}

/**
 * A resource server registered by the operator (RFC 8707): an API that tokens may be asked for by
 * its identifier, an absolute URI that becomes the token's `aud`.
 */
export interface ResourceRecord {
  resource: string;
  /** Shown to people on the consent page and in My devices. */
  name: string;
  createdAt: number;
}

export interface Resources {
  get(resource: string): Promise<ResourceRecord | null>;
  list(): Promise<ResourceRecord[]>;
  /** Inserts or replaces. */
  put(resource: ResourceRecord): Promise<void>;
  remove(resource: string): Promise<boolean>;
}

export interface Users {
  get(id: string): Promise<UserRecord | null>;
  getByUsername(username: string): Promise<UserRecord | null>;
  list(): Promise<UserRecord[]>;
  /** Throws UsernameTakenError when the username is in use. */
  create(user: UserRecord): Promise<void>;
  setPassword(id: string, passwordHash: string): Promise<boolean>;
  /** Removes the user and the upstream identities linked to it. */
  remove(id: string): Promise<boolean>;
  /** The user linked to an upstream provider's (issuer, subject): the only key an upstream sign-in is matched by. */
  findByIdentity(identity: UserIdentity): Promise<UserRecord | null>;
  /**
   * Creates the user and links the identity in one step. Throws IdentityTakenError when the
   * identity is already linked (two first sign-ins at once: the loser reads the winner's user),
   * UsernameTakenError when the username is in use.
   */
  createWithIdentity(user: UserRecord, identity: UserIdentity & { createdAt: number }): Promise<void>;
  /** The claims an upstream sign-in refreshes; false when there is no such user. */
  updateProfile(id: string, profile: Pick<UserRecord, 'name' | 'email' | 'emailVerified'>): Promise<boolean>;
}

/** An upstream OpenID provider's account: its issuer and its `sub` (OIDC Core §2: unique together only). */
export interface UserIdentity {
  issuer: string;
  subject: string;
}

/** A WebAuthn credential (a passkey) of a local account; `id` and `publicKey` are base64url. */
export interface PasskeyRecord {
  id: string;
  userId: string;
  publicKey: string;
  /** The authenticator's signature counter (WebAuthn §6.1.1); 0 for those that keep none. */
  counter: number;
  transports: string[];
  /** 'multiDevice': a synced passkey; 'singleDevice': bound to one authenticator. */
  deviceType: 'singleDevice' | 'multiDevice';
  backedUp: boolean;
  createdAt: number;
  lastUsedAt: number | null;
}

export interface Passkeys {
  /** False when a credential of that id is registered already (to anyone). */
  create(passkey: Omit<PasskeyRecord, 'lastUsedAt'>): Promise<boolean>;
  get(id: string): Promise<PasskeyRecord | null>;
  /** Oldest first. */
  listByUser(userId: string): Promise<PasskeyRecord[]>;
  /**
   * Records a sign-in with the new counter, only while the stored counter is below it or both
   * are 0 (WebAuthn §6.1.1: a counter that does not grow may be a cloned authenticator); true
   * when it did.
   */
  recordUse(id: string, counter: number, now: number): Promise<boolean>;
  /** Removes one of the user's passkeys; false for anyone else's or an unknown one. */
  remove(id: string, userId: string): Promise<boolean>;
}

export type SigningKeyState = 'next' | 'current' | 'retired';

export interface SigningKeyRecord {
  kid: string;
  alg: string;
  /** Private JWK, sealed under the master key (see ../keys/sealing.ts). */
  sealedPrivateJwk: string;
  publicJwk: Record<string, unknown>;
  state: SigningKeyState;
  createdAt: number;
  activatedAt: number | null;
  /** For retired keys: published until then, deleted after. */
  retireAfter: number | null;
}

export interface SigningKeys {
  list(): Promise<SigningKeyRecord[]>;
  /** Replaces the whole key set in one transaction (rotation is one atomic step). */
  replaceAll(keys: SigningKeyRecord[]): Promise<void>;
}

/** Browser sessions of the verification pages. */
export interface SessionRecord {
  idHash: string;
  userId: string;
  createdAt: number;
  expiresAt: number;
  authTime: number;
  /** OIDC Core §2: how the person authenticated (RFC 8176 values), and the assurance level. */
  amr: string[];
  acr: string | null;
}

export interface Sessions {
  create(session: SessionRecord): Promise<void>;
  get(idHash: string, now: number): Promise<SessionRecord | null>;
  remove(idHash: string): Promise<void>;
  /** Ends every session of one account (a new password signs the account out everywhere); returns how many. */
  removeByUser(userId: string): Promise<number>;
  sweep(now: number): Promise<number>;
}

/** One security event (see ../services/audit.ts). Never a secret in it. */
export interface AuditEventRecord {
  /** Increasing, assigned by the store: the cursor of `audit tail --follow` and of exports. */
  id: number;
  at: number;
  event: string;
  fields: Record<string, string | number | boolean | null>;
}

/** The audit log: append-only (the SQLite table refuses UPDATE and DELETE). */
export interface AuditEvents {
  append(event: Omit<AuditEventRecord, 'id'>): Promise<void>;
  /** Oldest first: events with id > afterId (default 0) and at >= since (default 0), at most limit. */
  list(query: { afterId?: number; since?: number; limit: number }): Promise<AuditEventRecord[]>;
  /** The newest `limit` events, oldest first. */
  tail(limit: number): Promise<AuditEventRecord[]>;
}

/**
 * Single-use identifiers seen recently (DPoP proof and client assertion `jti`s, RFC 9449 §11.1,
 * RFC 7523 §3), shared by every instance on one database: a proof replayed to another instance
 * must fail too, and one refused before a restart stays refused after it (docs/security.md
 * DPOP-PROOF). Keys arrive hashed (fixed length).
 */
export interface ReplayIdentifiers {
  /**
   * Records `key` until `expiresAt`, atomically across instances: true the first time (or once an
   * earlier record of it has expired), false for a replay.
   */
  remember(key: string, expiresAt: number, now: number): Promise<boolean>;
  /** Deletes expired records; returns how many. */
  sweep(now: number): Promise<number>;
}

/** A receiver of webhooks (docs/deploy.md#metrics-traces-and-webhooks). Its signing secret is sealed under the master key. */
export interface WebhookEndpointRecord {
  id: string;
  url: string;
  /** The Standard Webhooks secret (`whsec_...`), sealed like the signing keys (../keys/sealing.ts). */
  sealedSecret: string;
  /** Event types it receives; `*` for all. */
  events: string[];
  createdAt: number;
}

/** One event for one endpoint in the outbox: delivered at least once, in order per ordering key. */
export interface WebhookDeliveryRecord {
  /** The `webhook-id` header: the same on every attempt, so receivers deduplicate by it. */
  id: string;
  endpointId: string;
  /** Increasing in insertion order: the order deliveries of one ordering key go out in. */
  seq: number;
  eventType: string;
  /** Deliveries with the same key (a device grant, a token family) go out one at a time, in seq order. */
  orderingKey: string;
  /** The JSON body, exactly as signed. */
  payload: string;
  createdAt: number;
  attempts: number;
  nextAttemptAt: number;
  leaseUntil: number | null;
  leaseOwner: string | null;
  deliveredAt: number | null;
  deadAt: number | null;
  lastError: string | null;
}

export interface NewWebhookEvent {
  eventType: string;
  orderingKey: string;
  payload: string;
  createdAt: number;
}

/**
 * Webhook endpoints and the durable outbox of their deliveries. An event is enqueued once per
 * subscribed endpoint in one statement; instances claim due deliveries with a lease, so each is
 * attempted by one instance at a time however many run, and one whose instance died is taken over
 * once its lease ends. A delivery waits while an earlier one of its endpoint and ordering key is
 * neither delivered nor dead (in order per grant).
 */
export interface Webhooks {
  addEndpoint(endpoint: WebhookEndpointRecord): Promise<void>;
  listEndpoints(): Promise<WebhookEndpointRecord[]>;
  /** Removes the endpoint and its undelivered deliveries. */
  removeEndpoint(id: string): Promise<boolean>;
  /** One delivery per endpoint subscribed to the event's type (or `*`); returns how many. `endpointId` limits it to one endpoint. */
  enqueue(event: NewWebhookEvent, endpointId?: string): Promise<number>;
  /** Leases up to `limit` due deliveries to `owner` until `leaseUntil`, counting an attempt on each, oldest first. */
  claim(now: number, owner: string, leaseUntil: number, limit: number): Promise<WebhookDeliveryRecord[]>;
  /** True when `owner` still held the lease. */
  markDelivered(id: string, owner: string, now: number): Promise<boolean>;
  /** Records a failed attempt: retried at `nextAttemptAt`, or dead (the dead-letter list) when `dead`. */
  markFailed(id: string, owner: string, failure: { error: string; nextAttemptAt: number; dead: boolean; now: number }): Promise<boolean>;
  /** Deliveries that gave up, newest first. */
  listDeadLetters(limit: number): Promise<WebhookDeliveryRecord[]>;
  /** Deletes deliveries delivered before `before`; returns how many. */
  sweep(before: number): Promise<number>;
}

export interface Store {
  clients: Clients;
  resources: Resources;
  users: Users;
  passkeys: Passkeys;
  deviceGrants: DeviceGrants;
  grants: Grants;
  refreshTokens: RefreshTokens;
  accessTokens: AccessTokens;
  tokenExchanges: TokenExchanges;
  signingKeys: SigningKeys;
  sessions: Sessions;
  auditEvents: AuditEvents;
  replayIdentifiers: ReplayIdentifiers;
  registeredDevices: RegisteredDevices;
  webhooks: Webhooks;
  /**
   * Runs `work` while no other instance runs work under the same name (first-start bootstrap of
   * keys and the demo account). Absent on a store that serves one instance.
   */
  exclusive?<T>(name: string, work: () => Promise<T>): Promise<T>;
  /** Readiness probe: true when the backend answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export class UserCodeTakenError extends DevicegateError {
  constructor() {
    super('user_code_taken', 'user code already in use');
    this.name = 'UserCodeTakenError';
  }
}

export class IdentityTakenError extends DevicegateError {
  constructor() {
    super('identity_taken', 'this upstream identity is already linked to a user');
    this.name = 'IdentityTakenError';
  }
}

export class UsernameTakenError extends DevicegateError {
  constructor(username: string) {
    super('username_taken', `username "${username}" is already taken`);
    this.name = 'UsernameTakenError';
  }
}
