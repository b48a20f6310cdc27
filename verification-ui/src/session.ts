import type { CookieSerializeOptions } from '@fastify/cookie';
import type { Account, Session, VerificationPort } from '@devicegate/server';
import { constantTimeEqual, deriveKey, hashSecret, randomSecret } from '@devicegate/server/secrets';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The browser side of the pages: one random cookie per browser, which becomes a sign-in session
 * when the person signs in (its SHA-256 is the key of the session the port keeps; the value
 * itself is never stored). The CSRF token of every form is derived one-way from that same secret
 * (a synchronizer token bound to the session, recomputed rather than stored, so it holds across
 * appliance instances that share the store). A cross-site page can neither read the cookie nor
 * compute the token.
 */
export interface Visitor {
  /** The cookie's value: a secret, never logged, never rendered. */
  readonly secret: string;
  /** Put in every form as `csrf`; checked on every POST. */
  readonly csrfToken: string;
  /** Key of the per-session rate limits (not the secret itself). */
  readonly limitKey: string;
  /** True when this request arrived without a (valid) cookie and one was just set. */
  readonly fresh: boolean;
  readonly session: Session | null;
  readonly user: Account | null;
}

export interface CookieNames {
  session: string;
  flow: string;
  /** The round trip through an upstream provider (docs/security.md UPSTREAM-FORWARDED-LINK). */
  upstream: string;
  language: string;
  knownBrowser: string;
}

/**
 * Cookie names and attributes for an issuer. On https the `__Host-` prefix (RFC 6265bis
 * §4.1.3.2) makes the browser accept the cookie only from this very host, Secure and with Path=/,
 * so a sibling subdomain cannot plant a session or a flow. Plain http is loopback development only
 * (config.ts refuses anything else), where Secure cookies would not be sent back.
 */
export function cookiePolicy(issuer: string): { secure: boolean; names: CookieNames } {
  const secure = new URL(issuer).protocol === 'https:';
  const prefix = secure ? '__Host-' : '';
  return {
    secure,
    names: { session: `${prefix}devicegate-session`, flow: `${prefix}devicegate-flow`, language: `${prefix}devicegate-lang`, knownBrowser: `${prefix}devicegate-known`, upstream: `${prefix}devicegate-upstream` },
  };
}

const SECRET_FORMAT = /^[A-Za-z0-9_-]{43}$/;
const FLOW_FORMAT = /^[A-Za-z0-9_-]{16,64}\.[A-Za-z0-9_-]{43}$/;
/** <provider id>.<started at, epoch ms>.<next page>.<random secret> */
const UPSTREAM_FORMAT = /^([a-z0-9][a-z0-9-]{0,31})\.(\d{1,16})\.(consent|devices)\.([A-Za-z0-9_-]{43})$/;

/** A round trip through an upstream provider, as this browser's cookie holds it. */
export interface UpstreamFlow {
  providerId: string;
  startedAt: number;
  next: 'consent' | 'devices';
  /**
   * What the port derives state, nonce and the PKCE verifier from: the cookie's random value,
   * when the trip started and a derivation of this browser's session secret, so the callback
   * completes only in the browser that started it, and only within its lifetime.
   */
  flowSecret: string;
}
const ONE_YEAR = 365 * 86400;
const KNOWN_BROWSER_FORMAT = /^[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{43}$/;
/** A browser used within about a quarter stays known; one unused longer is treated as new. */
const KNOWN_BROWSER_DAYS = 90;

export function createSessions(port: Pick<VerificationPort, 'sessions' | 'settings'>) {
  const { sessions, settings } = port;
  const { secure, names } = cookiePolicy(settings.issuer);
  // SameSite=Lax: the cookie goes along when a person follows a link or scans a QR code into the
  // pages (a top-level GET) but not on a cross-site POST, a second line behind the CSRF token.
  const base: CookieSerializeOptions = { path: '/', httpOnly: true, sameSite: 'lax', secure };

  function describe(secret: string, fresh: boolean, session: Session | null, user: Account | null): Visitor {
    return { secret, csrfToken: deriveKey('csrf', secret), limitKey: deriveKey('page-limit', secret), fresh, session, user };
  }

  function startAnonymous(reply: FastifyReply): Visitor {
    const secret = randomSecret();
    // No Max-Age: an anonymous browser's cookie ends with the browser.
    reply.setCookie(names.session, secret, base);
    return describe(secret, true, null, null);
  }

  /** The visitor of this request; sets a new anonymous cookie when there is none. */
  async function visitor(request: FastifyRequest, reply: FastifyReply): Promise<Visitor> {
    const secret = request.cookies[names.session];
    if (!secret || !SECRET_FORMAT.test(secret)) return startAnonymous(reply);
    const found = await sessions.find(hashSecret(secret));
    if (!found) return describe(secret, false, null, null);
    return describe(secret, false, found.session, found.account);
  }

  /** Every POST: the token from the form must match the one derived from the cookie. */
  function csrfValid(visitor: Visitor, form: URLSearchParams): boolean {
    const submitted = form.get('csrf');
    if (visitor.fresh || !submitted) return false;
    return constantTimeEqual(submitted, visitor.csrfToken);
  }

  /**
   * Signs the person in under a NEW secret (the anonymous one is dropped), so a cookie someone
   * planted or saw before sign-in is worth nothing after it (session fixation).
   */
  async function signIn(
    reply: FastifyReply,
    previous: Visitor,
    account: Account,
    authentication: { authTime: number; amr: string[]; acr: string | null },
  ): Promise<Visitor> {
    const secret = randomSecret();
    const session = await sessions.start({ idHash: hashSecret(secret), account, ...authentication });
    if (previous.session) await sessions.end(previous.session.idHash);
    reply.setCookie(names.session, secret, { ...base, maxAge: settings.sessionLifetime });
    return describe(secret, false, session, account);
  }

  async function signOut(reply: FastifyReply, current: Visitor): Promise<Visitor> {
    if (current.session) await sessions.end(current.session.idHash);
    return startAnonymous(reply);
  }

  /**
   * The device request a person is confirming, between entering its code and approving it: the
   * ticket the port handed out when this browser typed the live user code (the request id and a
   * MAC over it; docs/security.md CONSENT-BOUND), kept in an HttpOnly cookie so it is never in a
   * URL, a form or a log.
   */
  const flow = {
    get(request: FastifyRequest): string | null {
      const value = request.cookies[names.flow];
      return value && FLOW_FORMAT.test(value) ? value : null;
    },
    set(reply: FastifyReply, ticket: string, maxAgeSeconds: number): void {
      reply.setCookie(names.flow, ticket, { ...base, maxAge: Math.max(1, Math.ceil(maxAgeSeconds)) });
    },
    clear(reply: FastifyReply): void {
      reply.clearCookie(names.flow, base);
    },
  };

  /**
   * The ticket of a browser that signed in before (docs/security.md SIGN-IN-NO-LOCKOUT): kept for
   * 90 days, HttpOnly, and only ever sent back to the port, which alone can check it.
   */
  const knownBrowser = {
    get(request: FastifyRequest): string | null {
      const value = request.cookies[names.knownBrowser];
      return value && KNOWN_BROWSER_FORMAT.test(value) ? value : null;
    },
    set(reply: FastifyReply, ticket: string): void {
      reply.setCookie(names.knownBrowser, ticket, { ...base, maxAge: KNOWN_BROWSER_DAYS * 86400 });
    },
  };

  const flowSecretOf = (visitor: Visitor, startedAt: number, random: string) => `${startedAt}.${random}.${deriveKey('upstream-browser', visitor.secret)}`;

  /**
   * The round trip through an upstream provider: one cookie, HttpOnly, SameSite=Lax (the
   * provider's redirect back is a top-level GET, which carries it), living as long as the trip
   * may. It holds no state, nonce or verifier, only a random value they are derived from, and it is
   * cleared by the callback, so a callback replayed in this browser finds nothing to finish.
   */
  const upstream = {
    start(reply: FastifyReply, visitor: Visitor, providerId: string, next: 'consent' | 'devices', startedAt: number): UpstreamFlow {
      const random = randomSecret();
      reply.setCookie(names.upstream, `${providerId}.${startedAt}.${next}.${random}`, { ...base, maxAge: settings.upstreamFlowLifetime });
      return { providerId, startedAt, next, flowSecret: flowSecretOf(visitor, startedAt, random) };
    },
    get(request: FastifyRequest, visitor: Visitor): UpstreamFlow | null {
      const match = UPSTREAM_FORMAT.exec(request.cookies[names.upstream] ?? '');
      if (!match) return null;
      const startedAt = Number(match[2]);
      return { providerId: match[1]!, startedAt, next: match[3] as 'consent' | 'devices', flowSecret: flowSecretOf(visitor, startedAt, match[4]!) };
    },
    clear(reply: FastifyReply): void {
      reply.clearCookie(names.upstream, base);
    },
  };

  const language = {
    get(request: FastifyRequest): string | undefined {
      return request.cookies[names.language];
    },
    set(reply: FastifyReply, code: string): void {
      reply.setCookie(names.language, code, { ...base, maxAge: ONE_YEAR });
    },
  };

  return { visitor, csrfValid, signIn, signOut, flow, knownBrowser, upstream, language, names };
}

export type Sessions = ReturnType<typeof createSessions>;
