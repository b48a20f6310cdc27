import type { AppContext } from '../context.ts';
import { dummyPasswordHash, verifyPassword } from '../passwords.ts';
import { createPasskeyService } from '../services/passkeys.ts';
import { sameNetwork } from '../services/network-match.ts';
import { looksLikeInstructions } from '../services/phishing-controls.ts';
import type { LimitName } from '../services/rate-limits.ts';
import type { ClientRecord, DeviceGrantRecord, SessionRecord, UserRecord } from '../store/types.ts';
import { createUpstreamSignIn, type UpstreamOutcome, type UpstreamProvider } from '../upstream/sign-in.ts';

export type { UpstreamProvider } from '../upstream/sign-in.ts';
import { tokenExchangeGrant } from '../grants/token-exchange.ts';

/**
 * What the verification pages may do, and nothing more: the pages (verification-ui) hold no
 * store, no configuration object and no AppContext, only this port, which the composition root
 * (appliance/src/modules.ts) builds from the server's context. Every rule (code-entry limits,
 * sign-in limits, who may see or decide what) is applied on this side, so another front end
 * (a product's own website) cannot skip it by talking to the store.
 */
export interface VerificationPort {
  /** The clock of the appliance (epoch ms): pages show times relative to it. */
  now(): number;
  settings: VerificationSettings;

  /** RFC 8628 §3.3: what the person typed, behind the brute-force limits of RFC 8628 §5.1. */
  enterUserCode(typed: string, who: { address: string; sessionKey: string }): Promise<CodeEntry>;
  /**
   * A device request that can be decided now (pending, not expired, client not blocked), as the
   * person at `address` sees it (RFC 10027 §6: whether they share the device's network). `flow` is
   * the ticket code entry handed out (CodeEntry), never a bare request id: only the browser that
   * typed the code can reach or decide its request (docs/security.md CONSENT-BOUND).
   */
  findPendingRequest(flow: string, person: { address: string }): Promise<PendingRequest | null>;
  /** The decision; false when someone else decided first, the request is no longer pending or the ticket is not valid. */
  /** `session` says when and how the person authenticated (OIDC auth_time, amr, acr), for the ID token. */
  approve(decision: { flow: string; account: Account; grantedScopes: string[]; session: Pick<Session, 'authTime' | 'amr' | 'acr'>; address: string }): Promise<boolean>;
  deny(decision: { flow: string; account: Account }): Promise<boolean>;
  /** A request this account decided, for the "done" page; null for anyone else's. */
  findDecidedRequest(requestId: string, account: Account): Promise<DecidedRequest | null>;

  /**
   * A local account's password, behind per-address and per-account limits; refused outright when
   * local passwords are off. `knownBrowser` is the ticket an earlier successful sign-in returned:
   * that browser is counted apart, so failures from elsewhere cannot lock its owner out
   * (docs/security.md SIGN-IN-NO-LOCKOUT).
   */
  signInWithPassword(attempt: { username: string; password: string; address: string; knownBrowser?: string | null }): Promise<SignInResult>;
  /**
   * Sign-in through an upstream OpenID provider (server/src/upstream/sign-in.ts). The round
   * trip's state, nonce and PKCE verifier are derived from `flowSecret`, a random value the pages
   * keep in a cookie of this browser only (docs/security.md UPSTREAM-FORWARDED-LINK).
   */
  upstream: {
    /** Origins the providers' authorization endpoints live at (the sign-in page's CSP form-action). */
    formTargets(): string[];
    begin(providerId: string, flow: { redirectUri: string; flowSecret: string }): Promise<{ kind: 'redirect'; url: string } | { kind: 'unknown' } | { kind: 'unavailable' }>;
    finish(providerId: string, flow: { redirectUri: string; flowSecret: string; callbackUrl: URL; address: string }): Promise<UpstreamSignInResult>;
  };
  sessions: {
    /** Starts a session under the hash of the browser's secret (never the secret itself). */
    start(session: { idHash: string; account: Account; authTime: number; amr: string[]; acr: string | null }): Promise<Session>;
    /** The session and its account, or null; a session of a removed or disabled account ends here. */
    find(idHash: string): Promise<{ session: Session; account: Account } | null>;
    end(idHash: string): Promise<void>;
  };

  /** My devices: the live grants of an account. */
  listDevices(account: Account): Promise<DeviceSummary[]>;
  /** Revokes the whole token family of one of the account's grants; false when it is not theirs. */
  signOutDevice(account: Account, grantId: string): Promise<boolean>;

  /**
   * Passkeys (WebAuthn) of local accounts (services/passkeys.ts). `binding` is a secret the pages
   * derive from the browser's cookie: a challenge shown to one browser is good in that one only.
   * Options are WebAuthn's JSON forms, for @simplewebauthn/browser.
   */
  passkeys: {
    registrationOptions(account: Account, binding: string): Promise<object>;
    /** False for a response that does not verify (or an authenticator registered already). */
    register(account: Account, binding: string, response: unknown): Promise<boolean>;
    authenticationOptions(binding: string): Promise<object>;
    /** Behind the per-address sign-in limit; every failure is one answer. */
    signIn(attempt: { binding: string; response: unknown; address: string }): Promise<SignInResult>;
    list(account: Account): Promise<PasskeySummary[]>;
    remove(account: Account, passkeyId: string): Promise<boolean>;
  };
}

export interface PasskeySummary {
  id: string;
  createdAt: number;
  lastUsedAt: number | null;
  /** A synced passkey (in a password manager or a platform account) rather than one security key. */
  synced: boolean;
}

export interface VerificationSettings {
  issuer: string;
  verificationPath: string;
  /** What devices show people (RFC 8628 §3.2 verification_uri); may be a short address elsewhere. */
  verificationUri: string;
  /** Seconds a page session lives. */
  sessionLifetime: number;
  /** False: no password form, and a password POST is refused (config signIn.localPasswords). */
  localPasswords: boolean;
  /** Seconds a person has for the round trip through a provider. */
  upstreamFlowLifetime: number;
  /** The provider buttons of the sign-in page, in configuration order. */
  providers: UpstreamProvider[];
  branding: BrandingSettings;
}

/** The product's look (config branding): the pages render it, the CSP admits only its logo's origin. */
export interface BrandingSettings {
  productName: string | null;
  /** An https or data: URL, or the path of the logo devicegate serves from logoFile. */
  logoUrl: string | null;
  /** The file behind logoUrl when devicegate serves it. */
  logoFile: string | null;
  primaryColor: string | null;
  onPrimaryColor: string | null;
  headerColor: string | null;
}

/** A person's account as the pages see it: no password hash, no flags beyond what they show. */
export interface Account {
  id: string;
  username: string;
  name: string | null;
  email: string | null;
}

export interface Session {
  idHash: string;
  accountId: string;
  createdAt: number;
  expiresAt: number;
  /** When the person authenticated (OIDC auth_time), not when the session was last used. */
  authTime: number;
  /** How they authenticated (RFC 8176: pwd; fed and the provider's own values upstream). */
  amr: string[];
  acr: string | null;
}

/** A device waiting for a decision, with what the consent page shows of it. */
export interface DeviceRequest {
  id: string;
  /** Normalized (8 characters, no dash). */
  userCode: string;
  clientId: string;
  clientName: string;
  /** RFC 7591 logo_uri of the client, shown on consent (its origin joins that page's img-src). */
  clientLogoUri: string | null;
  /**
   * False for a client that registered itself (RFC 7591, or its client id metadata document):
   * nobody vouched for its name, and the consent page says so.
   */
  clientVerified: boolean;
  scopes: string[];
  deviceName: string | null;
  deviceModel: string | null;
  /** The network address the device asked from (RFC 10027 §6: shown beside the person's own). */
  requestedFrom: string | null;
  /** The services (RFC 8707 resource servers) its tokens will reach; empty when it named none. */
  services: Service[];
  createdAt: number;
  expiresAt: number;
}

/** A registered resource server as people see it: its name, and its identifier for the careful. */
export interface Service {
  resource: string;
  name: string;
}

export interface PendingRequest extends DeviceRequest {
  /** The person's address is on the device's network (services/network-match.ts). */
  sameNetwork: boolean;
  /**
   * The client requires the same network for approval and it differs (docs/security.md
   * PHISH-SAME-NETWORK): the pages show why approval is refused and offer only Deny.
   */
  approvalRefused: boolean;
  /** The device's name read like instructions and is not shown (docs/security.md PHISH-DEVICE-NAME). */
  deviceNameWithheld: boolean;
}

export type CodeEntry =
  /** `flow`: the ticket the browser keeps (in its HttpOnly flow cookie) to reach consent. */
  | { kind: 'found'; request: DeviceRequest; flow: string }
  /** Unknown, expired, already decided or of a blocked client: one answer for all (no oracle). */
  | { kind: 'not_found' }
  | { kind: 'throttled'; retryAfterSeconds: number };

export interface DecidedRequest {
  status: 'approved' | 'denied';
  /** The device's name, else the app's. */
  deviceLabel: string;
}

export type SignInResult =
  /** `knownBrowser`: the ticket for the browser to keep and present at its next sign-in. */
  | { kind: 'signed_in'; account: Account; knownBrowser: string }
  | { kind: 'failed' }
  /** Local passwords are off (config signIn.localPasswords). */
  | { kind: 'disabled' }
  | { kind: 'throttled'; retryAfterSeconds: number };

export type UpstreamSignInResult =
  | { kind: 'signed_in'; account: Account; authTime: number; amr: string[]; acr: string | null }
  | { kind: Exclude<UpstreamOutcome['kind'], 'signed_in'> };

export interface DeviceSummary {
  grantId: string;
  clientName: string;
  deviceName: string | null;
  deviceModel: string | null;
  /** What its tokens may reach (RFC 8707); empty for a grant that named no resource. */
  services: Service[];
  /** An agent: its client may exchange the person's token for others (RFC 8693) within `services`. */
  agent: boolean;
  createdAt: number;
  lastUsedAt: number | null;
}

function accountOf(user: UserRecord): Account {
  return { id: user.id, username: user.username, name: user.name, email: user.email };
}

function sessionOf(record: SessionRecord): Session {
  return { idHash: record.idHash, accountId: record.userId, createdAt: record.createdAt, expiresAt: record.expiresAt, authTime: record.authTime, amr: record.amr, acr: record.acr };
}

export function createVerificationPort(context: AppContext): VerificationPort {
  const { store, clock, config, approval, audit, rateLimits, userCodeEntry, consentFlows, knownBrowsers } = context;
  const upstream = createUpstreamSignIn(context);
  const passkeys = createPasskeyService({ store, clock, replayCache: context.replayCache, audit, issuer: config.issuer, relyingPartyName: 'devicegate' });
  /** The account's full record, for what only the server may see (a passkey's user handle). */
  const userRecord = async (account: Account) => {
    const user = await store.users.get(account.id);
    return user && !user.disabled ? user : null;
  };

  /** Names of registered resources; one the operator removed since shows by its identifier. */
  async function servicesOf(resources: readonly string[]): Promise<Service[]> {
    return Promise.all(resources.map(async (resource) => ({ resource, name: (await store.resources.get(resource))?.name ?? resource })));
  }

  async function requestOf(deviceGrant: DeviceGrantRecord, client: Pick<ClientRecord, 'name' | 'logoUri' | 'registration'>): Promise<DeviceRequest> {
    return {
      id: deviceGrant.id,
      userCode: deviceGrant.userCode,
      clientId: deviceGrant.clientId,
      clientName: client.name,
      clientLogoUri: client.logoUri,
      clientVerified: client.registration === 'operator',
      scopes: deviceGrant.scopes,
      deviceName: deviceGrant.deviceName,
      deviceModel: deviceGrant.deviceModel,
      requestedFrom: deviceGrant.requestedFrom,
      services: await servicesOf(deviceGrant.resources),
      createdAt: deviceGrant.createdAt,
      expiresAt: deviceGrant.expiresAt,
    };
  }

  /** The consent page's view of a pending request, with the client's phishing controls applied. */
  async function pendingOf(deviceGrant: DeviceGrantRecord, client: ClientRecord, address: string): Promise<PendingRequest> {
    const request = await requestOf(deviceGrant, client);
    const same = sameNetwork(deviceGrant.requestedFrom, address);
    const suspicious = [deviceGrant.deviceName, deviceGrant.deviceModel].some((text) => text !== null && looksLikeInstructions(text));
    return {
      ...request,
      ...(suspicious ? { deviceName: null, deviceModel: null } : {}),
      sameNetwork: same,
      approvalRefused: client.phishing.sameNetworkRequired && !same,
      deviceNameWithheld: suspicious,
    };
  }

  /**
   * Spends one point in each bucket; the wait of the longest refusal, or null when every bucket
   * allowed the attempt. Every bucket is charged even when an earlier one refused, so a guesser
   * cannot spread attempts to dodge one of them.
   */
  async function consumeAll(buckets: Array<[LimitName, string]>, address: string): Promise<number | null> {
    let wait: number | null = null;
    for (const [name, key] of buckets) {
      const verdict = await rateLimits.consume(name, key, { fields: { address } });
      if (!verdict.allowed) wait = Math.max(wait ?? 1, verdict.retryAfterSeconds);
    }
    return wait;
  }

  return {
    now: () => clock.now(),
    settings: {
      issuer: config.issuer,
      verificationPath: config.verificationPath,
      verificationUri: config.verificationUri,
      sessionLifetime: config.sessionLifetime,
      localPasswords: config.signIn.localPasswords,
      upstreamFlowLifetime: config.signIn.flowLifetime,
      providers: upstream.providers,
      branding: {
        productName: config.branding.productName ?? null,
        logoUrl: config.branding.logoUrl ?? (config.branding.logoFile ? `${config.verificationPath.replace(/\/+$/, '')}/assets/logo` : null),
        logoFile: config.branding.logoFile ?? null,
        primaryColor: config.branding.primaryColor ?? null,
        onPrimaryColor: config.branding.onPrimaryColor ?? null,
        headerColor: config.branding.headerColor ?? null,
      },
    },

    async enterUserCode(typed, who) {
      const lookup = await userCodeEntry.lookup(typed, { address: who.address, sessionId: who.sessionKey });
      if (lookup.kind !== 'found') return lookup;
      const { deviceGrant, client } = lookup.pending;
      return { kind: 'found', request: await requestOf(deviceGrant, client), flow: consentFlows.issue(deviceGrant.id) };
    },

    async findPendingRequest(flow, person) {
      const requestId = consentFlows.open(flow);
      const pending = requestId ? await approval.findPendingById(requestId) : null;
      if (!pending) return null;
      return pendingOf(pending.deviceGrant, pending.client, person.address);
    },

    async approve({ flow, account, grantedScopes, session, address }) {
      const requestId = consentFlows.open(flow);
      const pending = requestId ? await approval.findPendingById(requestId) : null;
      if (!requestId || !pending) return false;
      // docs/security.md PHISH-SAME-NETWORK: checked here, on the server's side, whatever the page showed.
      if ((await pendingOf(pending.deviceGrant, pending.client, address)).approvalRefused) {
        audit.record('approval_refused_network', { clientId: pending.client.clientId, userId: account.id, address });
        return false;
      }
      return approval.approve({ deviceGrantId: requestId, userId: account.id, grantedScopes, authTime: session.authTime, amr: session.amr, acr: session.acr });
    },

    async deny({ flow, account }) {
      const requestId = consentFlows.open(flow);
      if (!requestId) return false;
      return approval.deny({ deviceGrantId: requestId, userId: account.id });
    },

    async findDecidedRequest(requestId, account) {
      const deviceGrant = await store.deviceGrants.findById(requestId);
      if (!deviceGrant || deviceGrant.userId !== account.id) return null;
      if (deviceGrant.status === 'denied') return { status: 'denied', deviceLabel: deviceGrant.deviceName ?? deviceGrant.clientId };
      if (deviceGrant.status !== 'approved' && deviceGrant.status !== 'redeemed') return null;
      const client = await store.clients.get(deviceGrant.clientId);
      return { status: 'approved', deviceLabel: deviceGrant.deviceName ?? client?.name ?? deviceGrant.clientId };
    },

    async signInWithPassword({ username, password, address, knownBrowser }) {
      if (!config.signIn.localPasswords) return { kind: 'disabled' };
      const accountKey = username.toLowerCase();
      // A browser that signed in to this account before has a bucket of its own for the account
      // and skips the per-address one (its ticket is good for this one account only, so it is no
      // help to a password sprayer). Everyone else shares the account's bucket, so five failures
      // still hold back a guesser, but no longer the owner (docs/security.md SIGN-IN-NO-LOCKOUT).
      const browserId = knownBrowser ? knownBrowsers.open(knownBrowser, accountKey) : null;
      const accountBucket = browserId ? `${accountKey}\nknown:${browserId}` : accountKey;
      const buckets: Array<[LimitName, string]> = browserId
        ? [['signInPerAccount', accountBucket]]
        : [['signInPerAddress', address], ['signInPerAccount', accountBucket]];
      const wait = await consumeAll(buckets, address);
      if (wait !== null) return { kind: 'throttled', retryAfterSeconds: wait };
      const user = await store.users.getByUsername(username);
      // A person made by an upstream sign-in has no password (an empty hash): none matches it.
      const usable = user !== null && !user.disabled && user.passwordHash !== '';
      // An unknown or disabled account still costs one argon2 verification, so the answer's
      // timing does not tell which usernames exist.
      const matches = await verifyPassword(usable ? user.passwordHash : await dummyPasswordHash(), password);
      if (!usable || !matches) {
        audit.record('sign_in_failed', { address, userId: user?.id ?? null });
        return { kind: 'failed' };
      }
      await rateLimits.reset('signInPerAccount', accountBucket);
      audit.record('sign_in_succeeded', { address, userId: user.id, knownBrowser: browserId !== null });
      return { kind: 'signed_in', account: accountOf(user), knownBrowser: knownBrowsers.issue(accountKey) };
    },

    upstream: {
      formTargets: () => upstream.formTargets(),
      begin: (providerId, flow) => upstream.begin(providerId, flow),
      async finish(providerId, flow) {
        const outcome = await upstream.finish(providerId, flow);
        if (outcome.kind !== 'signed_in') return outcome;
        return { kind: 'signed_in', account: accountOf(outcome.user), authTime: outcome.authTime, amr: outcome.amr, acr: outcome.acr };
      },
    },

    sessions: {
      async start({ idHash, account, authTime, amr, acr }) {
        const now = clock.now();
        const record: SessionRecord = { idHash, userId: account.id, createdAt: now, expiresAt: now + config.sessionLifetime * 1000, authTime, amr, acr };
        await store.sessions.create(record);
        return sessionOf(record);
      },
      async find(idHash) {
        const record = await store.sessions.get(idHash, clock.now());
        if (!record) return null;
        const user = await store.users.get(record.userId);
        // A user removed or disabled since signing in is signed out everywhere at once.
        if (!user || user.disabled) {
          await store.sessions.remove(record.idHash);
          return null;
        }
        return { session: sessionOf(record), account: accountOf(user) };
      },
      async end(idHash) {
        await store.sessions.remove(idHash);
      },
    },

    async listDevices(account) {
      const now = clock.now();
      const grants = (await store.grants.listByUser(account.id))
        .filter((grant) => grant.revokedAt === null && grant.expiresAt > now)
        .sort((a, b) => b.createdAt - a.createdAt);
      const clientNames = new Map<string, string>();
      const agents = new Set<string>();
      for (const clientId of new Set(grants.map((grant) => grant.clientId))) {
        const client = await store.clients.get(clientId);
        clientNames.set(clientId, client?.name ?? clientId);
        if (client?.grantTypes.includes(tokenExchangeGrant.type)) agents.add(clientId);
      }
      return Promise.all(
        grants.map(async (grant) => ({
          grantId: grant.id,
          clientName: clientNames.get(grant.clientId) ?? grant.clientId,
          deviceName: grant.deviceName,
          deviceModel: grant.deviceModel,
          services: await servicesOf(grant.resources),
          agent: agents.has(grant.clientId),
          createdAt: grant.createdAt,
          lastUsedAt: grant.lastUsedAt,
        })),
      );
    },

    passkeys: {
      async registrationOptions(account, binding) {
        const user = await userRecord(account);
        if (!user) throw new Error('no such account');
        return passkeys.registrationOptions(user, binding);
      },
      async register(account, binding, response) {
        const user = await userRecord(account);
        return user !== null && passkeys.register(user, binding, response);
      },
      authenticationOptions: (binding) => passkeys.authenticationOptions(binding),
      async signIn({ binding, response, address }) {
        const wait = await consumeAll([['signInPerAddress', address]], address);
        if (wait !== null) return { kind: 'throttled', retryAfterSeconds: wait };
        const user = await passkeys.authenticate(binding, response);
        if (!user) {
          audit.record('sign_in_failed', { address, userId: null, method: 'passkey' });
          return { kind: 'failed' };
        }
        audit.record('sign_in_succeeded', { address, userId: user.id, method: 'passkey' });
        // A passkey sign-in makes the browser known to the account as a password sign-in does.
        return { kind: 'signed_in', account: accountOf(user), knownBrowser: knownBrowsers.issue(user.username.toLowerCase()) };
      },
      async list(account) {
        const user = await userRecord(account);
        if (!user) return [];
        return (await passkeys.list(user)).map((passkey) => ({ id: passkey.id, createdAt: passkey.createdAt, lastUsedAt: passkey.lastUsedAt, synced: passkey.backedUp }));
      },
      async remove(account, passkeyId) {
        const user = await userRecord(account);
        return user !== null && passkeys.remove(user, passkeyId);
      },
    },

    async signOutDevice(account, grantId) {
      const grant = await store.grants.get(grantId);
      // Someone else's grant looks exactly like no grant.
      if (!grant || grant.userId !== account.id) return false;
      if (await store.grants.revoke(grant.id, clock.now(), 'signed out by the user')) {
        audit.record('grant_revoked', { grantId: grant.id, clientId: grant.clientId, userId: account.id, by: 'user' });
      }
      return true;
    },
  };
}
