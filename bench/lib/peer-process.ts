// The peer the bench puts devicegate beside: panva's oidc-provider (OpenID Certified; the engine
// under Logto), in a process of its own on 127.0.0.1, configured for the same operations as the
// appliance: the device flow (RFC 8628), refresh tokens with rotation (offline_access; RFC 9700
// §4.14.2), introspection (RFC 7662) by a client_secret_basic resource server, userinfo (OIDC Core
// §5.3), ID tokens signed with ES256 as the appliance's default key. Its in-memory store is the
// library's own memory adapter with a far larger LRU than its default of 1,000 entries, so no
// device code, grant or token made during a run is evicted. Approvals go through its own pages
// (the user code pages of features.deviceFlow and the login and consent pages of
// features.devInteractions), driven over HTTP by peer-pages.ts.
//
// Where the peer's work differs from the appliance's is said in bench/README.md ("The peer").
//
// Driven like appliance-process.ts over IPC: { type: 'cpu' } → { type: 'cpu', micros };
// { type: 'memory' } → after two full GCs; { type: 'profile-start' } / { type: 'profile-stop', file };
// { type: 'stop' }. Child → parent: { type: 'ready', url, endpoints } once listening.
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerBenchControl } from './server-control.ts';
import Provider from 'oidc-provider';
// The library's own adapter and LRU (the package has no exports map, so its files are public
// paths); only the store's size differs from its default.
// @ts-expect-error: no type declarations for the library's internal modules
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
// @ts-expect-error: as above
import LRU from 'oidc-provider/lib/helpers/lru.js';

export interface PeerSpec {
  /** The device client (public, polls), as the appliance's bench-tv. */
  deviceClientId: string;
  resourceServer: { clientId: string; secret: string };
  person: { username: string; password: string };
}

const spec = JSON.parse(process.env.BENCH_PEER ?? '{}') as PeerSpec;

// The default LRU keeps 1,000 entries (and drops the older half when full): a run makes tens of
// thousands of device codes (each two entries: the code and its user code index), so it holds
// 2,000,000, far more than a run makes, and nothing a poll or a refresh asks for is ever gone.
const STORE_ENTRIES = 2_000_000;
const store = new LRU({ maxSize: STORE_ENTRIES });

// An ES256 signing key, as the appliance's default (config.ts keys.signingAlg).
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'bench-peer-es256' };

const server = createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const provider = new Provider(issuer, {
  adapter: (model: string) => new MemoryAdapter(model, store),
  clients: [
    {
      client_id: spec.deviceClientId,
      client_name: 'Bench TV',
      token_endpoint_auth_method: 'none',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
      response_types: [],
      redirect_uris: [],
      id_token_signed_response_alg: 'ES256',
    },
    {
      client_id: spec.resourceServer.clientId,
      client_secret: spec.resourceServer.secret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys: [signingKey] },
  enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
  async findAccount(_ctx, id) {
    // The dev login page takes any login: every login is the bench's one person.
    return { accountId: id, claims: async () => ({ sub: id, name: spec.person.username, email: `${spec.person.username}@example.com`, email_verified: true }) };
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  scopes: ['openid', 'offline_access', 'email', 'profile'],
  features: {
    deviceFlow: { enabled: true },
    introspection: { enabled: true },
    // The resource server is registered for client_credentials, as the appliance's bench-rs.
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: true },
  },
  // Every refresh rotates, as the appliance's do (its default rotates only public clients'
  // tokens, which bench-tv is, but the bench says so rather than relying on it).
  rotateRefreshToken: () => true,
  // The appliance's defaults (config.ts): access tokens 600 s, device codes 1,800 s for the
  // bench's client, refresh tokens 30 days.
  ttl: { AccessToken: 600, DeviceCode: 1800, RefreshToken: 30 * 86400, IdToken: 3600, Grant: 30 * 86400, Session: 86400, Interaction: 3600 },
  cookies: { keys: ['bench-peer-cookie-key'] },
});
// Loopback http is the bench's whole network; without this oidc-provider insists on https for
// its cookies.
provider.proxy = false;
// oidc-provider logs nothing per request unless told to: none is added.
server.on('request', provider.callback());

const stop = () =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

answerBenchControl(stop);

const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>;
process.send!({
  type: 'ready',
  url: issuer,
  endpoints: {
    jwks: discovery.jwks_uri,
    deviceAuthorization: discovery.device_authorization_endpoint,
    token: discovery.token_endpoint,
    introspection: discovery.introspection_endpoint,
    userinfo: discovery.userinfo_endpoint,
  },
});
