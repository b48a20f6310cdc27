/**
 * The base of every error devicegate throws on purpose (after jose's JOSEError and
 * node-oidc-provider's OIDCProviderError), so `instanceof DevicegateError` tells a refusal the code
 * meant from a bug:
 * - `code` is stable: callers branch on it and tests assert it; it is never reworded.
 * - `message` is the public description, safe for whoever the error reaches (an OAuth client's
 *   `error_description`, a CLI's one line).
 * - `detail` is for the operator's log only: nothing renders it into a response or a CLI line.
 * Every other error is a failure: the HTTP exit (http/error-handler.ts) answers it 500 and logs
 * it, the CLI (cli/main.ts) prints its first line and exits 1.
 */
export class DevicegateError extends Error {
  readonly code: string;
  readonly detail: string | undefined;

  constructor(code: string, message: string, options: { detail?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DevicegateError';
    this.code = code;
    this.detail = options.detail;
  }
}

/**
 * The one OAuth error type (after node-oidc-provider's lib/helpers/errors.js); its `code` is the
 * RFC error code. Code throws these; exactly one place (http/error-handler.ts) renders them as the
 * RFC 6749 §5.2 JSON body with `Cache-Control: no-store`. Nobody writes an error response by hand.
 */
export class OAuthError extends DevicegateError {
  readonly description: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  /** Extra members of the error body, e.g. the grown `interval` beside slow_down. */
  readonly extra: Record<string, unknown>;

  constructor(
    error: string,
    description: string,
    status = 400,
    options: { headers?: Record<string, string>; extra?: Record<string, unknown>; detail?: string } = {},
  ) {
    // An OAuthError is an answer, not a failure: authorization_pending is thrown on every poll.
    // No stack trace is captured, which was about 9 µs of a poll's CPU
    // (docs/performance.md#no-stack-traces-for-oauth-errors); a real failure is any other error,
    // and keeps its stack for the log.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(error, description, { detail: options.detail });
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'OAuthError';
    this.description = description;
    this.status = status;
    this.headers = options.headers ?? {};
    this.extra = options.extra ?? {};
  }

  /** The RFC 6749 §5.2 `error` member: the code. */
  get error(): string {
    return this.code;
  }
}

export const invalidRequest = (description: string) => new OAuthError('invalid_request', description);

/**
 * RFC 6749 §5.2: 401 with WWW-Authenticate when the client tried HTTP Basic. `detail` tells the
 * operator's log which of the causes one description hides (docs/security.md threat 10).
 */
export const invalidClient = (description: string, usedBasic: boolean, detail?: string) =>
  new OAuthError('invalid_client', description, 401, {
    headers: usedBasic ? { 'WWW-Authenticate': 'Basic realm="devicegate", charset="UTF-8"' } : {},
    detail,
  });

export const invalidGrant = (description: string) => new OAuthError('invalid_grant', description);
export const invalidScope = (description: string) => new OAuthError('invalid_scope', description);
/** RFC 8707 §2: a resource that is malformed, unknown, or not one the grant may reach. */
export const invalidTarget = (description: string) => new OAuthError('invalid_target', description);
export const unauthorizedClient = (description: string) => new OAuthError('unauthorized_client', description);
export const unsupportedGrantType = (grantType: string) =>
  new OAuthError('unsupported_grant_type', `grant_type "${grantType.slice(0, 80)}" is not supported`);

// RFC 8628 §3.5 device flow polling errors.
export const authorizationPending = () =>
  new OAuthError('authorization_pending', 'the user has not yet approved or denied this request');
export const slowDown = (interval: number) =>
  new OAuthError('slow_down', `polling too fast; wait at least ${interval} seconds between requests`, 400, {
    extra: { interval },
  });
export const accessDenied = () => new OAuthError('access_denied', 'the user denied the request');
export const expiredToken = () => new OAuthError('expired_token', 'the device code has expired');

export const invalidToken = (description: string) =>
  new OAuthError('invalid_token', description, 401, {
    headers: { 'WWW-Authenticate': `Bearer error="invalid_token", error_description="${description}"` },
  });
export const insufficientScope = (description: string) =>
  new OAuthError('insufficient_scope', description, 403, {
    headers: { 'WWW-Authenticate': `Bearer error="insufficient_scope", error_description="${description}"` },
  });
export const tooManyRequests = (description: string, retryAfterSeconds: number) =>
  new OAuthError('slow_down', description, 429, { headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) } });
export const notFound = () => new OAuthError('not_found', 'no such endpoint', 404);
export const methodNotAllowed = (allowed: string) =>
  new OAuthError('invalid_request', `method not allowed; use ${allowed}`, 405, { headers: { Allow: allowed } });
export const serverError = () => new OAuthError('server_error', 'the server hit an unexpected condition', 500);
