import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { DPOP_SIGNING_ALGS, DpopProofError, dpopHeader, verifyDpopProof } from '../dpop/proof.ts';
import { createMemoryReplayCache, ReplayCacheFullError, type ReplayCache } from '../dpop/replay-cache.ts';
import { DevicegateError } from '../errors.ts';

/**
 * Accepting devicegate access tokens in an API (a resource server): RFC 9068 JWT access tokens
 * checked against the issuer's JWKS, DPoP-bound tokens (RFC 9449 §7) checked against their proof,
 * and, when configured, revocation through introspection (RFC 7662) with a short cache.
 * Framework-free: `verify()` takes any request-like object; `requireToken()` is a
 * `(req, res, next)` middleware for express, connect, or plain node:http. See README.md here.
 */

export type { ReplayCache } from '../dpop/replay-cache.ts';
export { createMemoryReplayCache } from '../dpop/replay-cache.ts';

export interface TokenVerifierOptions {
  /** The devicegate issuer, exactly as in its tokens' `iss`. */
  issuer: string;
  /**
   * This API's identifier: a token's `aud` must contain it (the client's `--audience`). Give each
   * API its own (`devicegate clients add --audience https://api.example.com`). The issuer itself is
   * the audience of every client registered without one, so accepting it accepts every client's
   * tokens: it is refused unless `clientIds` names the clients this API serves
   * (docs/security.md RS-AUDIENCE). Default: `resource`.
   */
  audience?: string | string[];
  /** Only tokens issued to these clients are accepted (`client_id`); required when `audience` is the issuer. */
  clientIds?: string[];
  /**
   * This API's resource identifier (RFC 8707, registered with `devicegate resources add`), an
   * absolute https URL. Setting it turns on protected resource metadata (RFC 9728):
   * `serveMetadata()` answers at `metadataUrl` (RFC 9728 §3.1: the well-known segment between
   * host and path), and every challenge names that document (§5.1), so a client that knows only
   * this API's URL finds the issuer and the resource to ask for.
   */
  resource?: string;
  /** Extra members of the metadata (RFC 9728 §2): `resource_name`, `scopes_supported`, `resource_documentation`. */
  resourceMetadata?: { resourceName?: string; scopesSupported?: string[]; resourceDocumentation?: string };
  /** Defaults to `jwks_uri` from the issuer's metadata (RFC 8414). */
  jwksUri?: string;
  /**
   * Ask the appliance whether a token is still active (revocation). Credentials of a client
   * allowed to introspect (`devicegate clients add --confidential --introspect`). `endpoint`
   * defaults to the metadata's `introspection_endpoint`; `cacheSeconds` (default 30) is how long
   * an answer is reused, which is how long a revoked token may still be accepted here.
   */
  introspection?: { endpoint?: string; clientId: string; clientSecret: string; cacheSeconds?: number };
  /**
   * Public base URL of this API (e.g. `https://api.example.com`), for the DPoP `htu` check. Set it
   * in production; without it the URL is rebuilt from the Host header, which a client controls.
   */
  baseUrl?: string;
  /** Epoch milliseconds; for tests. */
  clock?: { now(): number };
  /** Skew allowed on exp/nbf/iat of the access token (default 5 s). */
  clockToleranceSeconds?: number;
  /** Where DPoP proof `jti`s are remembered (default: in process). Share it across instances. */
  replayCache?: ReplayCache;
}

/** What a verified request is allowed to know about its token. */
export interface VerifiedToken {
  sub: string;
  scope: string[];
  clientId: string;
  /** The DPoP key thumbprint the token is bound to, when it is. */
  jkt?: string;
  claims: JWTPayload;
}

/** Enough of a request for verification: node's IncomingMessage and express's Request both fit. */
export interface RequestLike {
  method?: string;
  url?: string;
  /** express keeps the full path here when a router is mounted below a prefix. */
  originalUrl?: string;
  headers: Record<string, string | string[] | undefined>;
  /** A TLS socket has `encrypted: true` (used only when `baseUrl` is not set). */
  socket?: unknown;
}

export type TokenErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof' | 'use_dpop_nonce' | 'temporarily_unavailable';

/**
 * Why a request was refused, with the status and the WWW-Authenticate challenge to answer with
 * (RFC 6750 §3, RFC 9449 §7.1). No error code when no token was sent at all (RFC 6750 §3.1).
 */
export class TokenVerificationError extends DevicegateError {
  readonly status: number;
  readonly error: TokenErrorCode | null;
  readonly description: string;
  readonly wwwAuthenticate: string;
  constructor(status: number, error: TokenErrorCode | null, description: string, wwwAuthenticate: string) {
    super(error ?? 'token_required', description);
    this.name = 'TokenVerificationError';
    this.status = status;
    this.error = error;
    this.description = description;
    this.wwwAuthenticate = wwwAuthenticate;
  }
}

/** Access tokens are signed with an asymmetric key; a MAC or `none` is never accepted. */
const ACCESS_TOKEN_ALGS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const MAX_TOKEN_LENGTH = 8192;
const MAX_INTROSPECTION_CACHE_ENTRIES = 10_000;
const TOKEN68 = /^(Bearer|DPoP) ([A-Za-z0-9\-._~+/]+=*)$/i;

type Scheme = 'Bearer' | 'DPoP';

const quoted = (value: string) => value.replace(/["\\]/g, "'");

function challenge(scheme: Scheme, error?: TokenErrorCode, description?: string, scopes?: string[], resourceMetadata?: string): string {
  const parts: string[] = [];
  if (scheme === 'Bearer') parts.push('realm="api"');
  if (error) parts.push(`error="${error}"`);
  if (description) parts.push(`error_description="${quoted(description)}"`);
  if (scopes?.length) parts.push(`scope="${scopes.join(' ')}"`);
  if (scheme === 'DPoP') parts.push(`algs="${DPOP_SIGNING_ALGS.join(' ')}"`);
  // RFC 9728 §5.1: where a client learns which authorization server to ask, and for what.
  if (resourceMetadata) parts.push(`resource_metadata="${quoted(resourceMetadata)}"`);
  return `${scheme} ${parts.join(', ')}`;
}

const WELL_KNOWN = '/.well-known/oauth-protected-resource';

/**
 * RFC 9728 §3.1: the metadata of `https://api.example.com/mcp` is at
 * `https://api.example.com/.well-known/oauth-protected-resource/mcp`; a trailing slash is dropped.
 */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
  return `${url.origin}${WELL_KNOWN}${path}${url.search}`;
}

const headerValue = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

/** The verifier is set up so it would accept what it should not (see TokenVerifierOptions.audience). */
export class TokenVerifierConfigurationError extends DevicegateError {
  constructor(message: string) {
    super('resource_server_misconfigured', message);
    this.name = 'TokenVerifierConfigurationError';
  }
}

export function createTokenVerifier(options: TokenVerifierOptions) {
  const issuer = options.issuer.replace(/\/+$/, '');
  const audience = options.audience ?? options.resource;
  if (audience === undefined) throw new TypeError('createTokenVerifier needs an audience or a resource');
  const audiences = Array.isArray(audience) ? audience : [audience];
  // docs/security.md RS-AUDIENCE: the issuer is the default audience of every client's tokens, so
  // an API that accepts it without naming its clients accepts tokens issued for any other API.
  if (audiences.some((audience) => audience.replace(/\/+$/, '') === issuer) && !options.clientIds?.length) {
    throw new TokenVerifierConfigurationError(
      `audience ${issuer} is the issuer, which every client's tokens carry unless it has its own --audience: ` +
        'register your clients with --audience <this API> and verify that, or name the clients this API serves in clientIds',
    );
  }
  const clientIds = options.clientIds ? new Set(options.clientIds) : null;
  const metadataUrl = options.resource ? protectedResourceMetadataUrl(options.resource) : undefined;
  const fail = (scheme: Scheme, status: number, error: TokenErrorCode, description: string, scopes?: string[]) =>
    new TokenVerificationError(status, error, description, challenge(scheme, error, description, scopes, metadataUrl));
  const now = () => options.clock?.now() ?? Date.now();
  const tolerance = options.clockToleranceSeconds ?? 5;
  const replayCache = options.replayCache ?? createMemoryReplayCache({ now });
  const cacheMs = (options.introspection?.cacheSeconds ?? 30) * 1000;
  const introspectionCache = new Map<string, { active: boolean; until: number }>();

  // Metadata is read once (and again after a failure); the JWKS is cached by jose and refetched
  // when a token names a kid it does not know, so the appliance's key rotation needs nothing here.
  let metadata: Promise<Record<string, unknown>> | undefined;
  const readMetadata = () => {
    metadata ??= (async () => {
      const response = await fetch(`${issuer}/.well-known/oauth-authorization-server`, { headers: { accept: 'application/json' } });
      if (!response.ok) throw new Error(`metadata answered ${response.status}`);
      const body = (await response.json()) as Record<string, unknown>;
      // RFC 8414 §3.3: the metadata must name the issuer we asked about.
      if (body.issuer !== issuer) throw new Error('metadata issuer does not match');
      return body;
    })().catch((error: unknown) => {
      metadata = undefined;
      throw error;
    });
    return metadata;
  };
  let keySet: JWTVerifyGetKey | undefined;
  const keys = async (): Promise<JWTVerifyGetKey> => {
    if (!keySet) {
      const uri = options.jwksUri ?? ((await readMetadata()).jwks_uri as string);
      keySet = createRemoteJWKSet(new URL(uri), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
    }
    return keySet;
  };

  function presented(request: RequestLike): { scheme: Scheme; token: string } {
    const authorization = headerValue(request.headers.authorization);
    if (!authorization) {
      throw new TokenVerificationError(401, null, 'an access token is required', `${challenge('Bearer', undefined, undefined, undefined, metadataUrl)}, ${challenge('DPoP', undefined, undefined, undefined, metadataUrl)}`);
    }
    const match = TOKEN68.exec(authorization.trim());
    if (!match || match[2]!.length > MAX_TOKEN_LENGTH) throw fail('Bearer', 400, 'invalid_request', 'malformed Authorization header');
    return { scheme: match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: match[2]! };
  }

  /** The URL the client called, for htu: the configured base URL and the request path. */
  function requestUrl(request: RequestLike): string {
    const path = (request.originalUrl ?? request.url ?? '/').split(/[?#]/, 1)[0]!;
    if (options.baseUrl) return `${options.baseUrl.replace(/\/+$/, '')}${path}`;
    const host = headerValue(request.headers.host) ?? 'localhost';
    const encrypted = (request.socket as { encrypted?: boolean } | null | undefined)?.encrypted === true;
    return `${encrypted ? 'https' : 'http'}://${host}${path}`;
  }

  async function isActive(token: string, scheme: Scheme): Promise<boolean> {
    const introspection = options.introspection!;
    const key = createHash('sha256').update(token).digest('base64url');
    const cached = introspectionCache.get(key);
    if (cached && cached.until > now()) return cached.active;
    let active: boolean;
    try {
      const endpoint = introspection.endpoint ?? ((await readMetadata()).introspection_endpoint as string);
      // RFC 6749 §2.3.1: credentials are form-encoded before base64.
      const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${encode(introspection.clientId)}:${encode(introspection.clientSecret)}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
      });
      if (!response.ok) throw new Error(`introspection answered ${response.status}`);
      active = ((await response.json()) as { active?: unknown }).active === true;
    } catch {
      // Fail closed: a token whose revocation cannot be checked is not accepted.
      throw fail(scheme, 503, 'temporarily_unavailable', 'the token could not be checked; try again shortly');
    }
    if (cacheMs > 0) {
      if (introspectionCache.size >= MAX_INTROSPECTION_CACHE_ENTRIES) introspectionCache.delete(introspectionCache.keys().next().value!);
      introspectionCache.set(key, { active, until: now() + cacheMs });
    }
    return active;
  }

  /**
   * Verifies the access token of a request (and its DPoP proof when the token is bound), and that
   * it carries every scope in `scopes`. Throws TokenVerificationError.
   */
  async function verify(request: RequestLike, required: { scopes?: string[] } = {}): Promise<VerifiedToken> {
    const { scheme, token } = presented(request);
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, await keys(), {
        issuer,
        audience: audiences,
        // RFC 9068 §4: only access tokens; an ID token (typ JWT) signed by the same key is refused.
        typ: 'at+jwt',
        algorithms: ACCESS_TOKEN_ALGS,
        requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'jti'],
        currentDate: new Date(now()),
        clockTolerance: tolerance,
      }));
    } catch (error) {
      if (error instanceof TokenVerificationError) throw error;
      const reason = error instanceof joseErrors.JWTExpired ? 'the access token has expired' : 'the access token is invalid';
      if (error instanceof joseErrors.JOSEError) throw fail(scheme, 401, 'invalid_token', reason);
      // The issuer's metadata or JWKS could not be read.
      throw fail(scheme, 503, 'temporarily_unavailable', 'the token could not be checked; try again shortly');
    }

    if (clientIds && !clientIds.has(claims.client_id as string)) throw fail(scheme, 401, 'invalid_token', 'the access token was issued to a client this API does not serve');

    const jkt = typeof (claims.cnf as { jkt?: unknown } | undefined)?.jkt === 'string' ? (claims.cnf as { jkt: string }).jkt : undefined;
    if (jkt) {
      // RFC 9449 §7.2: a bound token presented as Bearer is refused, or a copy would work alone.
      if (scheme !== 'DPoP') throw fail('DPoP', 401, 'invalid_token', 'the access token is DPoP-bound; send it with the DPoP scheme and a proof');
      try {
        const proofHeader = dpopHeader(request.headers);
        if (proofHeader === null) throw new DpopProofError('invalid_dpop_proof', 'a DPoP proof is required with a DPoP access token');
        const proof = await verifyDpopProof(
          proofHeader,
          { method: (request.method ?? 'GET').toUpperCase(), url: requestUrl(request), accessToken: token },
          { now: now(), replayCache },
        );
        if (proof.jkt !== jkt) throw new DpopProofError('invalid_dpop_proof', 'the DPoP proof key does not match the access token');
      } catch (error) {
        if (error instanceof DpopProofError) throw fail('DPoP', 401, error.code, error.message);
        if (error instanceof ReplayCacheFullError) throw fail('DPoP', 503, 'temporarily_unavailable', 'too many requests in flight');
        throw error;
      }
    } else if (scheme === 'DPoP') {
      throw fail('DPoP', 401, 'invalid_token', 'the access token is not DPoP-bound; send it with the Bearer scheme');
    }

    const scope = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
    const missing = (required.scopes ?? []).filter((name) => !scope.includes(name));
    if (missing.length > 0) throw fail(scheme, 403, 'insufficient_scope', `the access token lacks the scope ${missing.join(' ')}`, required.scopes);

    // Checked last: only a token that is otherwise good costs a call to the appliance.
    if (options.introspection && !(await isActive(token, scheme))) throw fail(scheme, 401, 'invalid_token', 'the access token has been revoked');

    return { sub: claims.sub!, scope, clientId: claims.client_id as string, ...(jkt ? { jkt } : {}), claims };
  }

  /** Answers a refused request: status, challenge, RFC 6750 §3 JSON body, never cached. */
  function refuse(response: ServerResponse, error: TokenVerificationError): void {
    response.statusCode = error.status;
    response.setHeader('WWW-Authenticate', error.wwwAuthenticate);
    response.setHeader('Cache-Control', 'no-store');
    response.setHeader('Content-Type', 'application/json; charset=utf-8');
    response.end(JSON.stringify(error.error ? { error: error.error, error_description: error.description } : { error_description: error.description }));
  }

  /**
   * `(req, res, next)` middleware: on success `req.auth` holds the VerifiedToken and `next()` is
   * called; a refused request is answered here (401/403 with WWW-Authenticate); any other failure
   * goes to `next(error)`.
   */
  function requireToken(required: { scopes?: string[] } = {}) {
    return (request: IncomingMessage & { auth?: VerifiedToken; originalUrl?: string }, response: ServerResponse, next: (error?: unknown) => void): void => {
      verify(request, required).then(
        (verified) => {
          request.auth = verified;
          next();
        },
        (error: unknown) => {
          if (error instanceof TokenVerificationError) refuse(response, error);
          else next(error);
        },
      );
    };
  }

  /** RFC 9728 §2: this API's protected resource metadata (needs `resource`). */
  function protectedResourceMetadata(): Record<string, unknown> {
    if (!options.resource) throw new TypeError('protected resource metadata needs the `resource` option');
    const extra = options.resourceMetadata ?? {};
    return {
      resource: options.resource,
      authorization_servers: [issuer],
      bearer_methods_supported: ['header'],
      dpop_signing_alg_values_supported: DPOP_SIGNING_ALGS,
      ...(extra.resourceName ? { resource_name: extra.resourceName } : {}),
      ...(extra.scopesSupported ? { scopes_supported: extra.scopesSupported } : {}),
      ...(extra.resourceDocumentation ? { resource_documentation: extra.resourceDocumentation } : {}),
    };
  }

  /**
   * `(req, res, next)` middleware answering GET (and HEAD) on the metadata's well-known path with
   * the document (RFC 9728 §3.2: 200, application/json); every other request goes to `next()`.
   */
  function serveMetadata() {
    const path = metadataUrl ? new URL(metadataUrl).pathname : undefined;
    return (request: IncomingMessage & { originalUrl?: string }, response: ServerResponse, next: (error?: unknown) => void): void => {
      const requested = (request.originalUrl ?? request.url ?? '/').split(/[?#]/, 1)[0];
      if (!path || requested !== path || (request.method !== 'GET' && request.method !== 'HEAD')) return next();
      response.statusCode = 200;
      response.setHeader('Content-Type', 'application/json; charset=utf-8');
      // Short: an operator who moves the API to another issuer is followed within minutes.
      response.setHeader('Cache-Control', 'public, max-age=300');
      response.end(request.method === 'HEAD' ? undefined : JSON.stringify(protectedResourceMetadata()));
    };
  }

  return { verify, requireToken, refuse, protectedResourceMetadata, serveMetadata, metadataUrl };
}

export type TokenVerifier = ReturnType<typeof createTokenVerifier>;
