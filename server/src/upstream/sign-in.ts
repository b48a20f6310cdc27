import { readFileSync } from 'node:fs';
import { importPKCS8 } from 'jose';
import * as oidc from 'openid-client';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Config, UpstreamProviderConfig } from '../config.ts';
import { deriveKey, randomId } from '../secrets.ts';
import type { AuditLog } from '../services/audit.ts';
import { IdentityTakenError, UsernameTakenError, type Store, type UserRecord } from '../store/types.ts';

/** What the sign-in page shows of a provider: never its client credentials. */
export interface UpstreamProvider {
  id: string;
  label: string;
  icon: string | null;
}

/**
 * How an upstream sign-in ended. Every failure is a kind the pages turn into a page (never a
 * 5xx), and none of them spends the person's device flow: they can try again.
 */
export type UpstreamOutcome =
  | { kind: 'signed_in'; user: UserRecord; authTime: number; amr: string[]; acr: string | null }
  /** The person or the provider said no (OAuth error on the callback, RFC 6749 §4.1.2.1). */
  | { kind: 'denied' }
  /** The provider could not be reached or answered nonsense (discovery, token endpoint). */
  | { kind: 'unavailable' }
  /**
   * The callback does not belong to this browser's flow: another provider's (mix-up), a state or
   * nonce that does not match, a link forwarded from someone else's browser.
   */
  | { kind: 'mismatch' }
  /** The code was refused: already redeemed (a replayed callback) or expired at the provider. */
  | { kind: 'rejected' }
  /** The provider signed the person in, but this deployment does not let them in. */
  | { kind: 'not_allowed' };

/**
 * The secrets of one round trip, all derived one-way from a random value that only the browser
 * holds (a cookie): `state` (RFC 6749 §10.12), `nonce` (OIDC Core §3.1.2.1) and the PKCE
 * verifier (RFC 7636 §4.1). Each derivation names the provider, so a flow begun for one provider
 * cannot be finished with another's response (docs/security.md UPSTREAM-MIX-UP), and nothing of
 * the flow is stored on the server, so it holds across instances.
 */
export function flowChecks(providerId: string, flowSecret: string) {
  return {
    state: deriveKey(`upstream-state:${providerId}`, flowSecret),
    nonce: deriveKey(`upstream-nonce:${providerId}`, flowSecret),
    codeVerifier: deriveKey(`upstream-pkce:${providerId}`, flowSecret),
  };
}

const insecureAllowed = (issuer: string) => new URL(issuer).protocol === 'http:';

async function clientAuthentication(provider: UpstreamProviderConfig): Promise<oidc.ClientAuth> {
  if (provider.clientSecret) return oidc.ClientSecretBasic(provider.clientSecret);
  const pem = readFileSync(provider.privateKeyFile!, 'utf8');
  const key = await importPKCS8(pem, provider.privateKeyAlg);
  return oidc.PrivateKeyJwt(provider.privateKeyId ? { key, kid: provider.privateKeyId } : key);
}

/** A claim as text (OIDC Core §5.1: most are strings), or null. */
function textClaim(claims: Record<string, unknown>, name: string): string | null {
  const value = claims[name];
  return typeof value === 'string' && value !== '' ? value.slice(0, 256) : null;
}

/** RFC 8176 values are short tokens; anything else from a provider is dropped, not copied. */
const AMR_VALUE = /^[A-Za-z0-9_.:-]{1,32}$/;

/**
 * Sign-in through upstream OpenID providers (OIDC Core §3.1, the authorization code flow) with
 * openid-client: discovery, PKCE, state, nonce, ID token validation (issuer, audience, signature,
 * expiry, nonce) and RFC 9207's `iss` response parameter where the provider sends it. People are
 * linked by the provider's (issuer, subject) only, never by e-mail (docs/security.md
 * UPSTREAM-LINK), and created on their first sign-in.
 */
export function createUpstreamSignIn(deps: { store: Store; clock: Clock; config: Config; audit: AuditLog; logger: Logger }) {
  const { store, clock, config, audit, logger } = deps;
  const providers = new Map((config.signIn.providers ?? []).map((provider) => [provider.id, provider]));
  // Discovery is read once per provider and kept; a failed one is forgotten so the next sign-in
  // tries again (a provider that was down at start comes back without a restart).
  const discovered = new Map<string, Promise<oidc.Configuration>>();
  // Where the sign-in page's forms may lead (CSP form-action): each issuer's origin, and each
  // authorization endpoint's once discovery has named it.
  const formTargets = new Set((config.signIn.providers ?? []).map((provider) => new URL(provider.issuer).origin));

  function configurationOf(provider: UpstreamProviderConfig): Promise<oidc.Configuration> {
    let configuration = discovered.get(provider.id);
    if (!configuration) {
      configuration = clientAuthentication(provider).then((authentication) =>
        oidc.discovery(new URL(provider.issuer), provider.clientId, undefined, authentication, {
          ...(insecureAllowed(provider.issuer) ? { execute: [oidc.allowInsecureRequests] } : {}),
          timeout: 10,
        }),
      );
      configuration.catch(() => discovered.delete(provider.id));
      discovered.set(provider.id, configuration);
    }
    return configuration;
  }

  function allowed(provider: UpstreamProviderConfig, claims: Record<string, unknown>, email: string | null, emailVerified: boolean): boolean {
    if (provider.allowedEmailDomains) {
      // Only an address the provider has verified says which organisation a person belongs to.
      const domain = email && emailVerified ? email.slice(email.lastIndexOf('@') + 1).toLowerCase() : null;
      if (!domain || !provider.allowedEmailDomains.includes(domain)) return false;
    }
    if (provider.requiredClaim) {
      const value = claims[provider.requiredClaim.name];
      const values = Array.isArray(value) ? value : [value];
      if (!values.some((item) => typeof item === 'string' && provider.requiredClaim!.values.includes(item))) return false;
    }
    return true;
  }

  /** The user linked to (issuer, subject), created on the first sign-in, its profile refreshed on every later one. */
  async function linkedUser(
    provider: UpstreamProviderConfig,
    issuer: string,
    subject: string,
    profile: { username: string | null; name: string | null; email: string | null; emailVerified: boolean },
  ): Promise<UserRecord> {
    const identity = { issuer, subject };
    const existing = await store.users.findByIdentity(identity);
    const fields = { name: profile.name, email: profile.email, emailVerified: profile.emailVerified };
    if (existing) {
      if (existing.name !== fields.name || existing.email !== fields.email || existing.emailVerified !== fields.emailVerified) {
        await store.users.updateProfile(existing.id, fields);
      }
      return { ...existing, ...fields };
    }
    // A username for the header and the CLI, never a key: a local account "alice" and a provider's
    // "alice" stay two people (the second is alice@<provider id>).
    const wanted = (profile.username ?? profile.email ?? subject).replace(/[^\w.@+-]/g, '').slice(0, 64) || subject.slice(0, 64);
    for (const username of [wanted, `${wanted}@${provider.id}`, `${provider.id}-${randomId()}`]) {
      const user: UserRecord = { id: randomId(), username, passwordHash: '', ...fields, disabled: false, createdAt: clock.now() };
      try {
        await store.users.createWithIdentity(user, { ...identity, createdAt: user.createdAt });
        audit.record('user_created', { userId: user.id, provider: provider.id });
        return user;
      } catch (error) {
        if (error instanceof IdentityTakenError) {
          // Two first sign-ins at once: the other one made the user.
          const winner = await store.users.findByIdentity(identity);
          if (winner) return winner;
        }
        if (!(error instanceof UsernameTakenError)) throw error;
      }
    }
    throw new Error('no free username for an upstream user');
  }

  return {
    providers: [...providers.values()].map((provider): UpstreamProvider => ({ id: provider.id, label: provider.label, icon: provider.icon ?? null })),

    /** Origins the sign-in page's forms may redirect to. */
    formTargets: () => [...formTargets],

    /** The provider's authorization URL for this browser's flow, or why there is none. */
    async begin(providerId: string, flow: { redirectUri: string; flowSecret: string }): Promise<{ kind: 'redirect'; url: string } | { kind: 'unknown' } | { kind: 'unavailable' }> {
      const provider = providers.get(providerId);
      if (!provider) return { kind: 'unknown' };
      let configuration: oidc.Configuration;
      try {
        configuration = await configurationOf(provider);
      } catch (error) {
        logger.warn({ provider: provider.id, err: error }, 'upstream provider discovery failed');
        return { kind: 'unavailable' };
      }
      const authorizationEndpoint = configuration.serverMetadata().authorization_endpoint;
      if (authorizationEndpoint) formTargets.add(new URL(authorizationEndpoint).origin);
      const checks = flowChecks(provider.id, flow.flowSecret);
      const url = oidc.buildAuthorizationUrl(configuration, {
        redirect_uri: flow.redirectUri,
        scope: provider.scopes.join(' '),
        state: checks.state,
        nonce: checks.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(checks.codeVerifier),
        code_challenge_method: 'S256',
      });
      return { kind: 'redirect', url: url.href };
    },

    /** The callback: checks it against this browser's flow, redeems the code, links or creates the user. */
    async finish(providerId: string, flow: { redirectUri: string; flowSecret: string; callbackUrl: URL; address: string }): Promise<UpstreamOutcome> {
      const provider = providers.get(providerId);
      if (!provider) return { kind: 'mismatch' };
      const fail = (kind: Exclude<UpstreamOutcome['kind'], 'signed_in'>, reason: string): UpstreamOutcome => {
        audit.record('sign_in_failed', { address: flow.address, provider: provider.id, reason });
        return { kind } as UpstreamOutcome;
      };
      let configuration: oidc.Configuration;
      try {
        configuration = await configurationOf(provider);
      } catch (error) {
        logger.warn({ provider: provider.id, err: error }, 'upstream provider discovery failed');
        return fail('unavailable', 'provider unavailable');
      }
      const checks = flowChecks(provider.id, flow.flowSecret);
      // The URL the provider redirected to, with the redirect_uri's own origin and path (the
      // request's Host header is not trusted to rebuild it).
      const current = new URL(flow.redirectUri);
      current.search = flow.callbackUrl.search;
      let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        tokens = await oidc.authorizationCodeGrant(configuration, current, {
          pkceCodeVerifier: checks.codeVerifier,
          expectedState: checks.state,
          expectedNonce: checks.nonce,
          idTokenExpected: true,
        });
      } catch (error) {
        if (error instanceof oidc.AuthorizationResponseError) return fail('denied', `provider answered ${error.error}`);
        if (error instanceof oidc.ResponseBodyError) {
          // invalid_grant: the code was used already (a replayed callback) or has expired.
          if (error.error === 'invalid_grant') return fail('rejected', 'code refused');
          return fail('unavailable', `token endpoint answered ${error.error}`);
        }
        const code = (error as { code?: string }).code;
        // openid-client's response checks: state, nonce, iss (RFC 9207), ID token claims.
        if (code === 'OAUTH_INVALID_RESPONSE' || code === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' || code === 'OAUTH_RESPONSE_IS_NOT_CONFORM') {
          return fail('mismatch', (error as Error).message);
        }
        logger.warn({ provider: provider.id, err: error }, 'upstream sign-in failed');
        return fail('unavailable', 'provider unreachable');
      }
      const idToken = tokens.claims();
      if (!idToken) return fail('mismatch', 'no ID token');
      let claims: Record<string, unknown> = { ...idToken };
      if (provider.userinfo && configuration.serverMetadata().userinfo_endpoint) {
        try {
          // OIDC Core §5.3.2: the userinfo sub must be the ID token's, or the answer is ignored.
          claims = { ...(await oidc.fetchUserInfo(configuration, tokens.access_token, idToken.sub)), ...idToken };
        } catch (error) {
          logger.warn({ provider: provider.id, err: error }, 'upstream userinfo failed; using the ID token claims');
        }
      }
      const mapping = provider.claims;
      const email = textClaim(claims, mapping.email);
      const emailVerified = claims[mapping.emailVerified] === true || claims[mapping.emailVerified] === 'true';
      if (!allowed(provider, claims, email, emailVerified)) return fail('not_allowed', 'not on the allow-list');
      const user = await linkedUser(provider, idToken.iss, idToken.sub, {
        username: textClaim(claims, mapping.username),
        name: textClaim(claims, mapping.name),
        email,
        emailVerified,
      });
      if (user.disabled) return fail('not_allowed', 'account disabled');
      const upstreamAmr = Array.isArray(idToken.amr) ? idToken.amr.filter((value): value is string => typeof value === 'string' && AMR_VALUE.test(value)) : [];
      audit.record('sign_in_succeeded', { address: flow.address, userId: user.id, provider: provider.id });
      return {
        kind: 'signed_in',
        user,
        // OIDC Core §2: when the person authenticated at the provider, not when they came back.
        authTime: typeof idToken.auth_time === 'number' ? idToken.auth_time * 1000 : clock.now(),
        // "fed": signed in through a federated provider (as Microsoft Entra says it), then how
        // the provider itself authenticated them (docs/security.md UPSTREAM-AMR).
        amr: [...new Set(['fed', ...upstreamAmr])].slice(0, 8),
        acr: typeof idToken.acr === 'string' && idToken.acr.length <= 128 ? idToken.acr : null,
      };
    },
  };
}

export type UpstreamSignIn = ReturnType<typeof createUpstreamSignIn>;
