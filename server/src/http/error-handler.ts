import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { notFound, OAuthError, serverError } from '../errors.ts';
import { noteRequestOutcome } from '../observability/tracing.ts';

/**
 * The one place an OAuthError becomes a response: RFC 6749 §5.2 JSON, never cached. Its `detail`
 * (errors.ts) never goes into the body.
 */
function sendOAuthError(reply: FastifyReply, error: OAuthError): FastifyReply {
  return reply
    .code(error.status)
    .headers({ 'cache-control': 'no-store', pragma: 'no-cache', ...error.headers })
    .type('application/json; charset=utf-8')
    .send({ error: error.error, error_description: error.description, ...error.extra });
}

/** Maps framework errors (bad media type, oversized body, malformed input) to RFC errors. */
function toOAuthError(error: FastifyError): OAuthError {
  if (error instanceof OAuthError) return error;
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const description =
      error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? 'the body must be application/x-www-form-urlencoded'
        : error.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? 'the request body is too large'
          : 'the request is malformed';
    return new OAuthError('invalid_request', description, status);
  }
  return serverError();
}

/**
 * Installs the error and not-found handlers. Pages (verification-ui) may install their own
 * handlers inside their plugin scope; everything else answers in JSON.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const oauthError = toOAuthError(error);
    noteRequestOutcome(request, oauthError.error);
    if (oauthError.status >= 500) request.log.error({ err: error }, 'unhandled error');
    // What the answer's description leaves out on purpose, for an operator at debug.
    else if (oauthError.detail) request.log.debug({ error: oauthError.code, detail: oauthError.detail }, 'request refused');
    return sendOAuthError(reply, oauthError);
  });
  app.setNotFoundHandler((request, reply) => {
    noteRequestOutcome(request, 'not_found');
    return sendOAuthError(reply, notFound());
  });
}
