import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../errors.ts';
import type { ClientRecord, Clients } from '../store/types.ts';

/**
 * Cross-origin use by browser apps (a TV's web app, a kiosk), per the Fetch standard's CORS
 * protocol (https://fetch.spec.whatwg.org/#http-cors-protocol), in three kinds of endpoint
 * (docs/security.md CORS-ORIGIN, CORS-PUBLIC, CORS-PAGES):
 *
 * - public, read-only documents (discovery, JWKS): readable from any origin;
 * - the client endpoints (device authorization, token, revocation, userinfo): preflights are
 *   answered for an origin some client lists, and an answer is readable only by an origin the
 *   request's own client lists. A request that carries any other Origin is refused once the
 *   client is known and before the endpoint changes anything: a form POST needs no preflight,
 *   so the browser would send it and only hide the answer, and a device code redeemed into an
 *   answer nobody can read is a sign-in lost;
 * - everything else (the verification pages above all): no CORS header ever.
 *
 * Requests without an Origin header (devices, servers) are not affected.
 */

/** What a browser app may send beyond the CORS-safelisted headers: RFC 9449 §4.1, RFC 6750 §2.1. */
const ALLOWED_REQUEST_HEADERS = 'Authorization, Content-Type, DPoP';
/** What its code may read: the nonce (RFC 9449 §8), the challenge (RFC 6750 §3), back-off. */
const EXPOSED_HEADERS = 'DPoP-Nonce, WWW-Authenticate, Retry-After';
/** A preflight answer may be reused for 10 minutes: a polling TV would otherwise preflight every poll. */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/** `scheme://host[:port]` exactly as a browser sends it in Origin, or null. */
export function normalizedOrigin(value: string): string | null {
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
    return url.origin === value ? value : null;
  } catch {
    return null;
  }
}

export const originRefused = (origin: string) =>
  new OAuthError('unauthorized_client', 'this client may not be used from this web origin', 403, {
    detail: `Origin ${origin.slice(0, 200)} is not among the client's allowed origins`,
  });

function requestOrigin(request: FastifyRequest): string | undefined {
  const origin = request.headers.origin;
  return typeof origin === 'string' ? origin : undefined;
}

/**
 * The admission of a client endpoint's request, once its client is known and before anything
 * changes: no Origin passes untouched; a listed one makes the answer (errors included, they are
 * how a polling app learns authorization_pending) readable by that origin; any other is refused.
 */
export function admitOrigin(request: FastifyRequest, reply: FastifyReply, client: Pick<ClientRecord, 'allowedOrigins'>): void {
  const origin = requestOrigin(request);
  if (origin === undefined) return;
  reply.header('vary', 'Origin');
  if (!client.allowedOrigins.includes(origin)) throw originRefused(origin);
  reply.header('access-control-allow-origin', origin);
  reply.header('access-control-expose-headers', EXPOSED_HEADERS);
}

/** The endpoints of each kind, with the methods a browser may use on them. */
export interface CorsRoutes {
  publicDocuments: readonly string[];
  clientEndpoints: ReadonlyArray<{ path: string; methods: string }>;
}

/**
 * Discovery and JWKS say `*` on every answer; each client endpoint answers OPTIONS (the
 * preflight) with 204, allowing its methods and headers only to an origin some client lists.
 * The actual request is then judged against its own client by `admitOrigin`.
 */
export function registerCors(app: FastifyInstance, clients: Clients, routes: CorsRoutes): void {
  const publicDocuments = new Set(routes.publicDocuments);
  app.addHook('onSend', (request, reply, payload, done) => {
    if (publicDocuments.has(request.routeOptions.url ?? '')) reply.header('access-control-allow-origin', '*');
    done(null, payload);
  });
  for (const { path, methods } of routes.clientEndpoints) {
    app.options(path, async (request, reply) => {
      const origin = requestOrigin(request);
      reply.header('vary', 'Origin');
      // Listing every client per preflight: browsers cache the answer (max-age), and a preflight
      // reveals nothing and changes nothing.
      if (origin !== undefined && (await clients.list()).some((client) => client.allowedOrigins.includes(origin))) {
        reply.headers({
          'access-control-allow-origin': origin,
          'access-control-allow-methods': methods,
          'access-control-allow-headers': ALLOWED_REQUEST_HEADERS,
          'access-control-max-age': String(PREFLIGHT_MAX_AGE_SECONDS),
        });
      }
      return reply.code(204).header('allow', `${methods}, OPTIONS`).send();
    });
  }
}
