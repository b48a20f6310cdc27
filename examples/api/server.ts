// An API that accepts devicegate access tokens, on plain node:http: the resource-server helper's
// requireToken middleware guards /me and /notes. Run it beside an appliance:
//
//   npm start                                   # the appliance on http://127.0.0.1:8080
//   node --import tsx examples/api/server.ts    # this API on http://127.0.0.1:3000
//
// Environment: DEVICEGATE_ISSUER (default http://127.0.0.1:8080), API_PORT (3000), API_HOST
// (127.0.0.1), API_AUDIENCE (this API's identifier, the --audience its clients were registered
// with; default: the issuer, the aud of tokens of clients without --audience, which every client
// shares, so then API_CLIENT_IDS, comma-separated, default demo-tv, names the clients served:
// server/src/resource-server/README.md), API_BASE_URL (this API's public URL, for the DPoP htu check; set it in production,
// else the URL is rebuilt from the Host header),
// API_INTROSPECTION_CLIENT_ID and API_INTROSPECTION_CLIENT_SECRET (a client registered with
// --confidential --introspect; then revoked tokens are refused within API_INTROSPECTION_CACHE
// seconds, default 30), API_ALLOWED_ORIGINS (space-separated web origins whose browser apps, such
// as examples/tv-web, may call this API: CORS, docs/security.md CORS-ORIGIN).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';
import { createTokenVerifier, type TokenVerifierOptions, type VerifiedToken } from '@devicegate/server/resource-server';

type AuthedRequest = IncomingMessage & { auth?: VerifiedToken };

function json(response: ServerResponse, status: number, body: unknown): void {
  response.statusCode = status;
  response.setHeader('Content-Type', 'application/json; charset=utf-8');
  response.setHeader('Cache-Control', 'no-store');
  response.end(JSON.stringify(body));
}

/**
 * CORS for the browser apps of the listed origins (https://fetch.spec.whatwg.org/#http-cors-protocol):
 * a DPoP request carries Authorization and DPoP, so the browser asks first (a preflight); the
 * answer names only a listed origin, and exposes the headers a DPoP client reads (RFC 9449 §9).
 */
function cors(request: IncomingMessage, response: ServerResponse, allowedOrigins: readonly string[]): 'preflight' | 'go on' {
  const origin = request.headers.origin;
  response.setHeader('Vary', 'Origin');
  if (origin && allowedOrigins.includes(origin)) {
    response.setHeader('Access-Control-Allow-Origin', origin);
    response.setHeader('Access-Control-Expose-Headers', 'DPoP-Nonce, WWW-Authenticate');
  }
  if (request.method !== 'OPTIONS') return 'go on';
  if (origin && allowedOrigins.includes(origin)) {
    response.setHeader('Access-Control-Allow-Methods', 'GET');
    response.setHeader('Access-Control-Allow-Headers', 'Authorization, DPoP');
    response.setHeader('Access-Control-Max-Age', '600');
  }
  response.statusCode = 204;
  response.end();
  return 'preflight';
}

/** The example API as a node:http server (not listening yet). */
export function createExampleApi(options: TokenVerifierOptions & { allowedOrigins?: readonly string[] }): Server {
  const { allowedOrigins = [], ...verifierOptions } = options;
  const verifier = createTokenVerifier(verifierOptions);
  // One guard per route, each with the scopes that route needs.
  const routes: Record<string, { guard: ReturnType<typeof verifier.requireToken>; handle: (request: AuthedRequest, response: ServerResponse) => void }> = {
    '/me': {
      guard: verifier.requireToken({ scopes: ['profile'] }),
      handle: (request, response) => {
        const auth = request.auth!;
        json(response, 200, { sub: auth.sub, client_id: auth.clientId, scope: auth.scope, token_type: auth.jkt ? 'DPoP' : 'Bearer' });
      },
    },
    '/notes': {
      guard: verifier.requireToken({ scopes: ['openid'] }),
      handle: (request, response) => json(response, 200, { owner: request.auth!.sub, notes: [{ id: 1, text: 'Sign-in on the TV worked.' }] }),
    },
  };

  return createServer((request: AuthedRequest, response) => {
    const path = (request.url ?? '/').split('?', 1)[0]!;
    if (cors(request, response, allowedOrigins) === 'preflight') return;
    if (path === '/health') return json(response, 200, { ok: true });
    const route = routes[path];
    if (!route) return json(response, 404, { error: 'not_found' });
    if (request.method !== 'GET') return json(response, 405, { error: 'method_not_allowed' });
    route.guard(request, response, (error) => {
      if (error) return json(response, 500, { error: 'server_error' });
      route.handle(request, response);
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const env = process.env;
  const issuer = env.DEVICEGATE_ISSUER ?? 'http://127.0.0.1:8080';
  const host = env.API_HOST ?? '127.0.0.1';
  const port = Number(env.API_PORT ?? 3000);
  const introspection =
    env.API_INTROSPECTION_CLIENT_ID && env.API_INTROSPECTION_CLIENT_SECRET
      ? { clientId: env.API_INTROSPECTION_CLIENT_ID, clientSecret: env.API_INTROSPECTION_CLIENT_SECRET, cacheSeconds: Number(env.API_INTROSPECTION_CACHE ?? 30) }
      : undefined;
  const clientIds = env.API_CLIENT_IDS?.split(',').map((id) => id.trim()).filter(Boolean);
  const allowedOrigins = (env.API_ALLOWED_ORIGINS ?? '').split(/\s+/).filter(Boolean);
  const server = createExampleApi({
    issuer,
    audience: env.API_AUDIENCE ?? issuer,
    // The issuer is every client's default audience: serve only the demo client's tokens then.
    clientIds: clientIds ?? (env.API_AUDIENCE ? undefined : ['demo-tv']),
    introspection,
    baseUrl: env.API_BASE_URL,
    allowedOrigins,
  });
  server.listen(port, host, () => {
    const address = server.address();
    const actualPort = typeof address === 'object' && address ? address.port : port;
    process.stdout.write(`example API listening on http://${host}:${actualPort} (issuer ${issuer})\n`);
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => server.close(() => process.exit(0)));
}
