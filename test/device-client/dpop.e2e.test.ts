/**
 * DPoP (RFC 9449) end to end: the device client against the real appliance, which checks every
 * proof (server/src/dpop). Bound tokens, the key kept in the store before the first token request,
 * server nonces, refresh in a new process, a copied refresh token useless without the key, a
 * DPoP-required client, turning DPoP off, and calling an API with the bound token.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { calculateJwkThumbprint } from 'jose';
import {
  createProof,
  createSession,
  createTokenStore,
  generateDpopKey,
  type LoginEvent,
  type Session,
  type StartLoginOptions,
  type TokenStore,
} from '@devicegate/device-client';
import { createDpopNonces, createMemoryReplayCache, dpopChallenge, DpopProofError, verifyDpopProof } from '../../server/src/dpop/index.ts';
import type { TestAppliance } from '../support/appliance.ts';
import { cliProcess } from './support/cli.ts';
import { jsonLogin } from './support/cli-login.ts';
import { decide, DEVICE_CLIENT_ID, DEVICE_SCOPE, inBackground, startDeviceAppliance, until, type Decider } from './support/e2e.ts';
import { deviceEnv, tempDir } from './support/temp.ts';

const DPOP_REQUIRED_CLIENT_ID = 'e2e-dpop-required';
const INTROSPECTOR = { clientId: 'e2e-introspector', secret: 'introspector-secret-for-tests' };

let dg: TestAppliance;
let metadata: { token_endpoint: string; userinfo_endpoint: string; introspection_endpoint: string; device_authorization_endpoint: string };
before(async () => {
  dg = await startDeviceAppliance();
  await dg.addClient({ clientId: DPOP_REQUIRED_CLIENT_ID, pollInterval: 1, dpopRequired: true });
  await dg.addClient({ clientId: INTROSPECTOR.clientId, mayIntrospect: true, grantTypes: ['client_credentials'] }, INTROSPECTOR.secret);
  metadata = (await (await fetch(`${dg.issuer}/.well-known/openid-configuration`)).json()) as typeof metadata;
});
after(() => dg?.stop());

/** What a resource server sees of a token (RFC 7662), asked by a confidential client. */
async function introspect(token: string): Promise<Record<string, unknown>> {
  const response = await fetch(metadata.introspection_endpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${INTROSPECTOR.clientId}:${INTROSPECTOR.secret}`).toString('base64')}` },
    body: new URLSearchParams({ token }),
  });
  assert.equal(response.status, 200);
  return (await response.json()) as Record<string, unknown>;
}

const decodePart = (jws: string, index: 0 | 1) => JSON.parse(Buffer.from(jws.split('.')[index]!, 'base64url').toString('utf8')) as Record<string, unknown>;

interface TokenExchange {
  /** The decoded proof header and claims, when the request had one. */
  proof?: { header: Record<string, unknown>; claims: Record<string, unknown> };
  grantType: string;
  status: number;
  error?: string;
  nonce: string | null;
}

/** A fetch that records every token endpoint request and answer, and what else it saw. */
function recordingFetch(
  options: { stripDiscoveryDpop?: boolean; stripAuthorizationNonce?: boolean; beforeFirstTokenRequest?: () => Promise<void> } = {},
) {
  const exchanges: TokenExchange[] = [];
  const sawDpopHeader: string[] = [];
  const authorizationNonces: Array<string | null> = [];
  const fetchFn = async (input: string | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    if (new Headers(init?.headers).has('dpop')) sawDpopHeader.push(url);
    if (url === metadata.token_endpoint) {
      if (exchanges.length === 0) await options.beforeFirstTokenRequest?.();
      const proof = new Headers(init?.headers).get('dpop');
      const response = await fetch(input, init);
      const body = (await response.clone().json()) as { error?: string };
      exchanges.push({
        ...(proof ? { proof: { header: decodePart(proof, 0), claims: decodePart(proof, 1) } } : {}),
        grantType: new URLSearchParams(String(init?.body)).get('grant_type') ?? '',
        status: response.status,
        ...(body.error ? { error: body.error } : {}),
        nonce: response.headers.get('dpop-nonce'),
      });
      return response;
    }
    const response = await fetch(input, init);
    if (url === metadata.device_authorization_endpoint) authorizationNonces.push(response.headers.get('dpop-nonce'));
    if (options.stripAuthorizationNonce && url === metadata.device_authorization_endpoint) {
      // A server that hands out nonces only the standard way, on use_dpop_nonce.
      const headers = new Headers(response.headers);
      headers.delete('dpop-nonce');
      return new Response(await response.arrayBuffer(), { status: response.status, headers });
    }
    if (options.stripDiscoveryDpop && url.includes('/.well-known/')) {
      // A standard server without RFC 9449: the same metadata, less the DPoP member.
      const { dpop_signing_alg_values_supported: _dropped, ...rest } = (await response.json()) as Record<string, unknown>;
      return Response.json(rest, { status: response.status });
    }
    return response;
  };
  return { exchanges, sawDpopHeader, authorizationNonces, fetch: fetchFn };
}

const storeIn = (dir: string): TokenStore => createTokenStore({ env: deviceEnv(dir) });

/** A session's login by polling, approved in the browser once the device has polled `polls` times. */
async function signIn(
  session: Session,
  t: Decider & { signal: AbortSignal },
  options: Partial<StartLoginOptions> & { polls?: number } = {},
) {
  const events: LoginEvent[] = [];
  const { polls = 1, ...loginOptions } = options;
  const login = await session.login({
    issuer: dg.issuer,
    clientId: DEVICE_CLIENT_ID,
    scope: DEVICE_SCOPE,
    channel: 'poll',
    onEvent: (event) => events.push(event),
    signal: t.signal,
    ...loginOptions,
  });
  const waiting = inBackground(login.wait());
  await until(() => events.filter((event) => event.type === 'poll').length >= polls, 60_000, `${polls} polls`);
  await decide(dg, login, 'approve', t);
  return { login, tokens: await waiting, events };
}

/** Makes the stored access token look expired (the clock is not moved: proofs carry the time). */
async function ageStoredTokens(store: TokenStore): Promise<void> {
  const record = await store.load('default');
  assert.ok(record);
  await store.save('default', { ...record, tokens: { ...record.tokens, expiresAt: Date.now() - 1000 }, savedAt: Date.now() - 3600_000 });
}

/** The thumbprint of the key kept in the store, computed by jose from the stored JWK. */
async function storedThumbprint(store: TokenStore): Promise<string> {
  const record = await store.load('default');
  const jwk = record?.dpop?.privateJwk;
  assert.ok(jwk, 'a DPoP key is stored');
  return calculateJwkThumbprint({ kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y! }, 'sha256');
}

test('login binds the tokens to the key kept in the store, which was stored before the first token request', async (t) => {
  const store = storeIn(tempDir());
  let keyBeforeFirstRequest: string | undefined;
  const recording = recordingFetch({
    beforeFirstTokenRequest: async () => {
      keyBeforeFirstRequest = await storedThumbprint(store);
    },
  });
  const session = createSession({ store, fetch: recording.fetch });
  const { login, tokens } = await signIn(session, t);

  assert.equal(tokens.tokenType, 'DPoP');
  const jkt = await storedThumbprint(store);
  assert.equal(keyBeforeFirstRequest, jkt, 'the key was on disk before the first token request');
  assert.equal(login.dpopKey?.thumbprint, jkt);
  // Every token request carried a proof of that key, for this endpoint.
  assert.ok(recording.exchanges.length >= 2);
  for (const exchange of recording.exchanges) {
    assert.ok(exchange.proof, 'a proof on every token request');
    assert.equal(await calculateJwkThumbprint(exchange.proof.header.jwk as Parameters<typeof calculateJwkThumbprint>[0]), jkt);
    assert.equal(exchange.proof.header.typ, 'dpop+jwt');
    assert.equal(exchange.proof.claims.htm, 'POST');
    assert.equal(exchange.proof.claims.htu, metadata.token_endpoint);
  }
  // What a resource server sees: the access token and the refresh token are bound to the key.
  const access = await introspect(tokens.accessToken);
  assert.equal(access.active, true);
  assert.equal(access.token_type, 'DPoP');
  assert.deepEqual(access.cnf, { jkt });
  assert.deepEqual((await introspect(tokens.refreshToken!)).cnf, { jkt });
  assert.deepEqual(decodePart(tokens.accessToken, 1).cnf, { jkt }, 'the JWT access token carries cnf.jkt');

  const status = await session.status();
  assert.equal(status.tokenType, 'DPoP');
  assert.equal(status.dpopThumbprint, jkt);
});

test('nonces: the first token request carries the nonce handed out with the device authorization, so no request is sent twice', async (t) => {
  const recording = recordingFetch();
  const session = createSession({ store: storeIn(tempDir()), fetch: recording.fetch });
  const { events } = await signIn(session, t, { polls: 3 });
  const { exchanges, authorizationNonces } = recording;

  assert.equal(authorizationNonces.length, 1);
  assert.ok(authorizationNonces[0], 'the appliance handed out a nonce with the device authorization');
  assert.equal(exchanges[0]!.proof!.claims.nonce, authorizationNonces[0]);
  assert.deepEqual(
    exchanges.map((exchange) => exchange.error ?? 'tokens'),
    [...Array(exchanges.length - 1).fill('authorization_pending'), 'tokens'],
    'no use_dpop_nonce at all',
  );
  for (let index = 1; index < exchanges.length; index++) {
    assert.equal(exchanges[index]!.proof!.claims.nonce, exchanges[index - 1]!.nonce, `request ${index} uses the last nonce`);
  }
  assert.equal(events.filter((event) => event.type === 'poll').length, exchanges.length);
});

test('nonces from a server that gives none with the device authorization: the first token request meets use_dpop_nonce and is retried at once; later polls carry the latest nonce', async (t) => {
  const recording = recordingFetch({ stripAuthorizationNonce: true });
  const session = createSession({ store: storeIn(tempDir()), fetch: recording.fetch });
  const { events } = await signIn(session, t, { polls: 3 });
  const { exchanges } = recording;

  assert.equal(exchanges[0]!.error, 'use_dpop_nonce');
  assert.equal(exchanges[0]!.proof!.claims.nonce, undefined);
  assert.ok(exchanges[0]!.nonce);
  assert.deepEqual(
    exchanges.slice(1).map((exchange) => exchange.error ?? 'tokens'),
    [...Array(exchanges.length - 2).fill('authorization_pending'), 'tokens'],
    'no use_dpop_nonce after the first',
  );
  for (let index = 1; index < exchanges.length; index++) {
    assert.equal(exchanges[index]!.proof!.claims.nonce, exchanges[index - 1]!.nonce, `request ${index} uses the last nonce`);
  }
  // The nonce round trip is not a poll: one poll event per poll, the retry inside the first.
  assert.equal(events.filter((event) => event.type === 'poll').length, exchanges.length - 1);
  const jtis = new Set(exchanges.map((exchange) => exchange.proof!.claims.jti));
  assert.equal(jtis.size, exchanges.length, 'a fresh jti on every proof');
});

test('refresh after a restart: a new session reading the store refreshes with the kept key, and the new tokens stay bound', async (t) => {
  const dir = tempDir();
  const { tokens } = await signIn(createSession({ store: storeIn(dir) }), t);
  await ageStoredTokens(storeIn(dir));

  // Nothing survives but the files: a new store object, a new session, a new nonce memory.
  const recording = recordingFetch();
  const restarted = createSession({ store: storeIn(dir), fetch: recording.fetch });
  const refreshed = await restarted.getAccessToken();
  assert.notEqual(refreshed, tokens.accessToken);
  const jkt = await storedThumbprint(storeIn(dir));
  assert.deepEqual(recording.exchanges.map((exchange) => [exchange.grantType, exchange.error ?? exchange.status]), [
    ['refresh_token', 'use_dpop_nonce'],
    ['refresh_token', 200],
  ]);
  assert.deepEqual((await introspect(refreshed)).cnf, { jkt });
  const record = await storeIn(dir).load('default');
  assert.equal(record?.tokens.tokenType, 'DPoP');
  assert.ok(record?.tokens.refreshToken && record.tokens.refreshToken !== tokens.refreshToken, 'rotated refresh token stored');
});

test('refresh in a new process: devicegate-device token refreshes with the key from the store', async (t) => {
  const dir = tempDir();
  const env = deviceEnv(dir);
  const { tokens } = await signIn(createSession({ store: storeIn(dir) }), t);
  await ageStoredTokens(storeIn(dir));
  const result = await cliProcess(['token'], env);
  assert.equal(result.code, 0, result.stderr);
  const printed = result.stdout.trim();
  assert.notEqual(printed, tokens.accessToken);
  assert.deepEqual((await introspect(printed)).cnf, { jkt: await storedThumbprint(storeIn(dir)) });
});

test('a refresh token copied out alone is useless: invalid_grant without the key or with another key, and the device still refreshes', async (t) => {
  const dir = tempDir();
  const { tokens } = await signIn(createSession({ store: storeIn(dir) }), t);
  const stolen = tokens.refreshToken!;
  const refresh = (headers: Record<string, string> = {}) =>
    fetch(metadata.token_endpoint, {
      method: 'POST',
      headers,
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: stolen, client_id: DEVICE_CLIENT_ID }),
    });

  const withoutProof = await refresh();
  assert.equal(withoutProof.status, 400);
  assert.equal(((await withoutProof.json()) as { error: string }).error, 'invalid_grant');

  // The thief's own key, with a valid nonce: still not the key the token is bound to.
  const nonce = withoutProof.headers.get('dpop-nonce') ?? dg.appliance.context.dpop.nonce();
  const thief = generateDpopKey();
  const withOtherKey = await refresh({ DPoP: createProof(thief, { method: 'POST', url: metadata.token_endpoint, now: Date.now(), nonce }) });
  assert.equal(withOtherKey.status, 400);
  assert.equal(((await withOtherKey.json()) as { error: string }).error, 'invalid_grant');

  // The attempts burned nothing: the device, with its key, refreshes as usual.
  await ageStoredTokens(storeIn(dir));
  const refreshed = await createSession({ store: storeIn(dir) }).getAccessToken();
  assert.equal((await introspect(refreshed)).active, true);
});

test('a client registered as DPoP-required signs in', async (t) => {
  const store = storeIn(tempDir());
  const { tokens } = await signIn(createSession({ store }), t, { clientId: DPOP_REQUIRED_CLIENT_ID });
  assert.equal(tokens.tokenType, 'DPoP');
  assert.deepEqual((await introspect(tokens.accessToken)).cnf, { jkt: await storedThumbprint(store) });
});

test('fetchWithToken calls userinfo with Authorization: DPoP and a proof; the bound token alone as Bearer is refused', async (t) => {
  const session = createSession({ store: storeIn(tempDir()) });
  const { tokens } = await signIn(session, t);
  const response = await session.fetchWithToken(metadata.userinfo_endpoint);
  assert.equal(response.status, 200, await response.clone().text());
  assert.equal(((await response.json()) as { sub: string }).sub, dg.demoUserId);

  const asBearer = await fetch(metadata.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.accessToken}` } });
  assert.equal(asBearer.status, 401);
});

/**
 * An API that demands server nonces in proofs (RFC 9449 §9), checked by the appliance's own proof
 * verifier: 401 with a DPoP challenge naming use_dpop_nonce and a DPoP-Nonce header, until a proof
 * carries a current nonce. Answers every request with the nonce to use next, and the proof's key.
 */
async function startNonceDemandingApi() {
  const nonces = createDpopNonces({ secret: randomBytes(32), now: Date.now, windowSeconds: 300, required: true });
  const replayCache = createMemoryReplayCache({ now: Date.now });
  const seen: { method: string; status: number; body: string }[] = [];
  const server = createServer(async (request, response) => {
    let body = '';
    for await (const chunk of request) body += chunk;
    const token = /^DPoP (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    const answer = (status: number, json: unknown, headers: Record<string, string> = {}) => {
      seen.push({ method: request.method!, status, body });
      response.writeHead(status, { 'content-type': 'application/json', 'dpop-nonce': nonces.current(), ...headers }).end(JSON.stringify(json));
    };
    try {
      if (!token || typeof request.headers.dpop !== 'string') throw new DpopProofError('invalid_dpop_proof', 'DPoP token and proof required');
      const { port } = server.address() as AddressInfo;
      const proof = await verifyDpopProof(
        request.headers.dpop,
        { method: request.method!, url: `http://127.0.0.1:${port}${request.url}`, accessToken: token, nonce: nonces },
        { now: Date.now(), replayCache },
      );
      answer(200, { jkt: proof.jkt, body });
    } catch (error) {
      if (!(error instanceof DpopProofError)) throw error;
      answer(401, { error: error.code }, { 'www-authenticate': dpopChallenge(error.code, error.message) });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/rooms?floor=2`, seen };
}

test('fetchWithToken against an API that demands nonces: one use_dpop_nonce retry, then the nonce is kept', async (t) => {
  const store = storeIn(tempDir());
  const session = createSession({ store });
  await signIn(session, t);
  const api = await startNonceDemandingApi();

  const first = await session.fetchWithToken(api.url);
  assert.equal(first.status, 200, await first.clone().text());
  assert.equal(((await first.json()) as { jkt: string }).jkt, await storedThumbprint(store));
  assert.deepEqual(api.seen.map((request) => request.status), [401, 200], 'asked for a nonce once, retried at once');

  // The API's nonce is remembered: a POST with a body goes through at the first try.
  const second = await session.fetchWithToken(api.url, { method: 'POST', body: JSON.stringify({ light: 'on' }), headers: { 'content-type': 'application/json' } });
  assert.equal(second.status, 200);
  assert.deepEqual(api.seen.slice(2), [{ method: 'POST', status: 200, body: '{"light":"on"}' }]);
});

test('devicegate-device proof: a script calls an API with the token and a proof from the CLI', async (t) => {
  const dir = tempDir();
  const env = deviceEnv(dir);
  await signIn(createSession({ store: storeIn(dir) }), t);
  const token = await cliProcess(['token'], env);
  const proof = await cliProcess(['proof', '--method', 'GET', '--url', metadata.userinfo_endpoint], env);
  assert.equal(proof.code, 0, proof.stderr);
  assert.match(proof.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'one compact JWS and nothing else');
  assert.equal(proof.stderr, '');
  const response = await fetch(metadata.userinfo_endpoint, {
    headers: { authorization: `DPoP ${token.stdout.trim()}`, dpop: proof.stdout.trim() },
  });
  assert.equal(response.status, 200, await response.clone().text());

  // A proof is single-use: the same one again is refused.
  const replay = await fetch(metadata.userinfo_endpoint, { headers: { authorization: `DPoP ${token.stdout.trim()}`, dpop: proof.stdout.trim() } });
  assert.equal(replay.status, 401);
});

test('--no-dpop against a DPoP-required client fails at the first poll with one clear line, exit 5', async (t) => {
  const env = deviceEnv(tempDir());
  const started = Date.now();
  const login = await jsonLogin(dg, ['--client-id', DPOP_REQUIRED_CLIENT_ID, '--scope', DEVICE_SCOPE, '--no-dpop', '--channel', 'poll'], env, 'none', t);
  assert.equal(login.code, 5, login.stderr);
  assert.match(login.stderr, /^devicegate-device: [^\n]*requires DPoP[^\n]*--no-dpop[^\n]*\n$/);
  assert.deepEqual(login.events.map((event) => event.event), ['code', 'error']);
  assert.ok(Date.now() - started < 30_000, 'at the first poll, not at expiry');
  assert.equal((await cliProcess(['status'], env)).code, 7, 'nothing stored');
});

test('--no-dpop gets Bearer tokens and keeps no key; proof then says no proof is needed', async (t) => {
  const env = deviceEnv(tempDir());
  const login = await jsonLogin(dg, ['--client-id', DEVICE_CLIENT_ID, '--scope', DEVICE_SCOPE, '--no-dpop', '--channel', 'poll'], env, 'approve', t);
  assert.equal(login.code, 0, login.stderr);
  const status = JSON.parse((await cliProcess(['status', '--json'], env)).stdout) as { tokenType: string; dpop: boolean };
  assert.equal(status.tokenType, 'Bearer');
  assert.equal(status.dpop, false);
  const proof = await cliProcess(['proof', '--url', metadata.userinfo_endpoint], env);
  assert.equal(proof.code, 2);
  assert.match(proof.stderr, /^devicegate-device: [^\n]*Bearer[^\n]*no DPoP proof\n$/);
});

test('a server whose discovery does not advertise DPoP gets no proofs at all (auto fallback)', async (t) => {
  const store = storeIn(tempDir());
  const recording = recordingFetch({ stripDiscoveryDpop: true });
  const session = createSession({ store, fetch: recording.fetch });
  const { tokens } = await signIn(session, t);
  assert.equal(tokens.tokenType, 'Bearer');
  assert.deepEqual(recording.sawDpopHeader, []);
  assert.equal((await store.load('default'))?.dpop, undefined, 'no key made');
  const response = await session.fetchWithToken(metadata.userinfo_endpoint);
  assert.equal(response.status, 200);
});

test('logout revokes and deletes the key with the tokens', async (t) => {
  const store = storeIn(tempDir());
  const session = createSession({ store });
  await signIn(session, t);
  assert.deepEqual(await session.logout(), { wasLoggedIn: true, revoked: true });
  assert.equal(await store.load('default'), null);
});
