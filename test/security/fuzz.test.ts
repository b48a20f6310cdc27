// Property-based fuzzing (fast-check) of every HTTP endpoint of one running appliance: at least
// 10,000 generated requests (methods, paths, content types, form bodies with edge-case names and
// values, real and forged codes and tokens, Authorization / DPoP / X-Forwarded-For / Cookie junk).
// Properties: no 5xx; every 4xx of an OAuth endpoint is RFC 6749 §5.2 JSON with an `error`; the
// appliance stays up; afterwards the store's invariants hold: no device code redeemed into two
// families, no refresh token with two live successors, no active token of a revoked grant.
//
// Seeded and reproducible: the seed is printed; rerun with FUZZ_SEED=<seed> (FUZZ_RUNS to change
// the number of batches). Codes and tokens are the server's own random values, so a rerun sends
// the same shapes of requests, resolved against that run's live codes and tokens.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { hashSecret } from '../../server/src/secrets.ts';
import { addIntrospector, basicAuthorization, introspect, signInDevice } from '../server/http.ts';
import { readInvariants } from './support/invariants.ts';

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const BATCH = 20;
const RUNS = Number(process.env.FUZZ_RUNS ?? 500); // 500 batches of 20: 10,000 requests
const CONFIDENTIAL = { clientId: 'fuzz-confidential', secret: 'fuzz-confidential-secret-0123456789' };

let dg: TestAppliance;
let introspector: { clientId: string; secret: string };
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

// Live values the generated requests refer to by index, so forged and real codes and tokens mix.
type PoolName = 'deviceCode' | 'userCode' | 'refreshToken' | 'accessToken' | 'idToken';
const pools: Record<PoolName, string[]> = { deviceCode: [], userCode: [], refreshToken: [], accessToken: [], idToken: [] };
const redeemedCodes = new Map<string, number>();
const refreshedTokens = new Map<string, number>();
const failures: string[] = [];
let sent = 0;
const slow: string[] = [];

before(async () => {
  const high = { points: 1_000_000, duration: 60 };
  dg = await startTestAppliance({
    overrides: {
      trustProxy: true,
      // The limits have their own tests; here every request should reach the code behind them.
      limits: Object.fromEntries(
        [
          'deviceAuthorizationPerClientAndAddress', 'tokenPerAddress', 'revocationPerClientAndAddress', 'introspectionPerClient',
          'userinfoPerAddress', 'metadataPerAddress', 'clientAuthenticationFailuresPerAddress', 'userCodeEntryPerAddress',
          'userCodeEntryPerSession', 'signInPerAccount', 'signInPerAddress',
        ].map((name) => [name, high]),
      ),
    },
  });
  introspector = await addIntrospector(dg);
  await dg.addClient({ clientId: CONFIDENTIAL.clientId, grantTypes: ['client_credentials'], scopes: ['api'] }, CONFIDENTIAL.secret);
  for (let i = 0; i < 3; i++) {
    const { tokens, authorization } = await signInDevice(dg);
    pools.deviceCode.push(authorization.device_code);
    pools.refreshToken.push(tokens.refresh_token!);
    pools.accessToken.push(tokens.access_token);
    pools.idToken.push(tokens.id_token!);
  }
  console.log(`fuzz: seed ${SEED} (rerun with FUZZ_SEED=${SEED}), ${RUNS} batches of ${BATCH}`);
});
after(async () => {
  agent.destroy();
  await dg.stop();
});

// ---------- what a request may be ----------

type Value = string | { pool: PoolName; index: number };

/** Lone surrogates cannot be percent-encoded; a client would send U+FFFD for them. */
const wellFormed = (t: string) => t.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

const edgeStrings = [
  '', ' ', '\t', '\u0000', '%', '%zz', '+', '=', '&', '&&==', 'null', 'undefined', 'true', '0', '-1', '1e309', 'NaN',
  '[]', '{}', '__proto__', 'constructor', 'hasOwnProperty', 'toString', 'é', '😀', '\u202e', '\ud800', '\r\n', '<script>alert(1)</script>',
  "' OR 1=1 --", '"; DROP TABLE grants; --', '../../etc/passwd', 'a'.repeat(4096), 'a'.repeat(4097), 'x'.repeat(300),
  'openid', 'openid profile email offline_access', 'offline_access', 'api', 'openid  openid', 'bogus', 'openid "',
  'urn:ietf:params:oauth:grant-type:device_code', 'refresh_token', 'client_credentials', 'authorization_code', 'password', 'implicit',
  'demo-tv', CONFIDENTIAL.clientId, CONFIDENTIAL.secret, 'resource-server', 'no-such-client', 'access_token', 'refresh_token',
  'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
  'eyJhbGciOiJFUzI1NiIsInR5cCI6ImRwb3Arand0In0.eyJodG0iOiJQT1NUIn0.c2ln', 'BCDF-GHJK', 'bcdfghjk', 'approve', 'deny',
];
const parameterNames = [
  'grant_type', 'client_id', 'client_secret', 'device_code', 'refresh_token', 'scope', 'token', 'token_type_hint', 'client_assertion',
  'client_assertion_type', 'device_name', 'device_model', 'user_code', 'csrf', 'username', 'password', 'decision', 'request',
  'access_token', 'next', 'resource', 'audience', 'dpop_jkt',
];
const endpointPaths = [
  '/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/oauth/device_authorization', '/oauth/token',
  '/oauth/revoke', '/oauth/introspect', '/oauth/userinfo', '/oauth/jwks', '/healthz', '/readyz', '/push',
  '/device', '/device/sign-in', '/device/consent', '/device/done', '/device/devices', '/device/sign-out', '/device/assets/app.css',
];
const oddPaths = ['/', '/oauth', '/oauth/token/', '/OAUTH/TOKEN', '/oauth/%2e%2e/token', '/oauth//token', '/device/', '/device/%00', '/.well-known/', '/favicon.ico'];

const text = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...edgeStrings) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 5000 }) },
);
const value: fc.Arbitrary<Value> = fc.oneof(
  { weight: 3, arbitrary: text },
  { weight: 3, arbitrary: fc.record({ pool: fc.constantFrom<PoolName>('deviceCode', 'userCode', 'refreshToken', 'accessToken', 'idToken'), index: fc.nat() }) },
);
const name = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...parameterNames) }, { weight: 1, arbitrary: text });
/** Mostly a plausible request for some grant or endpoint, then anything at all. */
const formFields = fc.oneof(
  fc.record({
    grant_type: fc.constantFrom('urn:ietf:params:oauth:grant-type:device_code', 'refresh_token', 'client_credentials'),
    client_id: fc.constantFrom('demo-tv', CONFIDENTIAL.clientId, 'resource-server', 'nobody'),
    device_code: value,
    refresh_token: value,
    scope: fc.option(value, { nil: undefined }),
  }).map((record) => Object.entries(record).filter((entry): entry is [string, Value] => entry[1] !== undefined)),
  fc.record({ client_id: fc.constantFrom('demo-tv', 'nobody'), scope: fc.option(value, { nil: undefined }), device_name: fc.option(text, { nil: undefined }) })
    .map((record) => Object.entries(record).filter((entry): entry is [string, Value] => entry[1] !== undefined)),
  fc.record({ token: value, token_type_hint: fc.option(fc.constantFrom('access_token', 'refresh_token', 'junk'), { nil: undefined }), client_id: fc.option(fc.constantFrom('demo-tv', 'resource-server'), { nil: undefined }) })
    .map((record) => Object.entries(record).filter((entry): entry is [string, Value] => entry[1] !== undefined)),
  fc.array(fc.tuple(name, value), { maxLength: 8 }),
);
const body = fc.oneof(
  { weight: 6, arbitrary: formFields.map((fields) => ({ kind: 'form' as const, fields })) },
  { weight: 1, arbitrary: text.map((raw) => ({ kind: 'raw' as const, raw })) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom(...parameterNames), fc.jsonValue({ maxDepth: 2 })).map((json) => ({ kind: 'json' as const, json })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
);
const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/x-www-form-urlencoded') },
  { weight: 4, arbitrary: fc.constantFrom('application/x-www-form-urlencoded; charset=utf-8', 'APPLICATION/X-WWW-FORM-URLENCODED', 'application/json', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded; charset=latin1', '*/*', ';;') },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: text },
);
const authorization = fc.oneof(
  { weight: 6, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('basic' as const), user: fc.oneof(fc.constantFrom('demo-tv', CONFIDENTIAL.clientId, 'resource-server'), text), secret: fc.oneof(fc.constant(CONFIDENTIAL.secret), text) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('Bearer' as const, 'DPoP' as const), token: value }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('raw' as const), raw: fc.oneof(text, fc.constantFrom('Basic', 'Basic ', 'Basic ===', 'Bearer', 'DPoP', 'Negotiate x', 'Basic Og==')) }) },
);
const header = fc.option(fc.oneof(text, fc.constantFrom('eyJ.eyJ.sig', '203.0.113.1', '203.0.113.1, 10.0.0.1', '::1', 'unknown', '999.1.1.1', 'devicegate-session=x; devicegate-flow=y')), { nil: null, freq: 2 });

const chaotic = fc.record({
  method: fc.oneof({ weight: 8, arbitrary: fc.constant('POST') }, { weight: 3, arbitrary: fc.constant('GET') }, { weight: 1, arbitrary: fc.constantFrom('PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD') }),
  path: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...endpointPaths) }, { weight: 1, arbitrary: fc.constantFrom(...oddPaths) }, { weight: 1, arbitrary: text.map((t) => `/${encodeURIComponent(wellFormed(t)).slice(0, 300)}`) }),
  query: fc.option(fc.array(fc.tuple(name, text), { maxLength: 3 }), { nil: null, freq: 3 }),
  contentType,
  body,
  authorization,
  dpop: header,
  forwardedFor: header,
  cookie: header,
  acceptLanguage: header,
});
type FuzzRequest = typeof chaotic extends fc.Arbitrary<infer R> ? R : never;

/** A well-formed request of a real client, with a real (or stale) code or token and an odd extra or two. */
const ref = (...names: PoolName[]) => fc.record({ pool: fc.constantFrom(...names), index: fc.nat() });
const extra = fc.array(fc.tuple(name, value), { maxLength: 1 });
const optionalScope = fc.option(fc.constantFrom('openid', 'openid profile', 'offline_access openid', 'email', 'api', 'bogus'), { nil: undefined });
type Field = [string, Value];
type Plausible = { path: string; method: FuzzRequest['method']; fields: Field[]; authorization: FuzzRequest['authorization'] };
const when = (name: string, v: Value | undefined): Field[] => (v === undefined ? [] : [[name, v]]);
const plausibleForms: fc.Arbitrary<Plausible> = fc.oneof(
  fc.tuple(optionalScope, fc.option(text, { nil: undefined }), extra).map(([scope, deviceName, more]): Plausible => ({
    path: '/oauth/device_authorization', method: 'POST', authorization: null,
    fields: [['client_id', 'demo-tv'], ...when('scope', scope), ...when('device_name', deviceName), ...more],
  })),
  fc.tuple(ref('deviceCode'), extra).map(([code, more]): Plausible => ({
    path: '/oauth/token', method: 'POST', authorization: null,
    fields: [['grant_type', 'urn:ietf:params:oauth:grant-type:device_code'], ['client_id', 'demo-tv'], ['device_code', code], ...more],
  })),
  fc.tuple(ref('refreshToken'), optionalScope, extra).map(([token, scope, more]): Plausible => ({
    path: '/oauth/token', method: 'POST', authorization: null,
    fields: [['grant_type', 'refresh_token'], ['client_id', 'demo-tv'], ['refresh_token', token], ...when('scope', scope), ...more],
  })),
  fc.tuple(ref('refreshToken', 'accessToken'), fc.option(fc.constantFrom('access_token', 'refresh_token'), { nil: undefined })).map(([token, hint]): Plausible => ({
    path: '/oauth/revoke', method: 'POST', authorization: null,
    fields: [['client_id', 'demo-tv'], ['token', token], ...when('token_type_hint', hint)],
  })),
  ref('refreshToken', 'accessToken', 'idToken').map((token): Plausible => ({
    path: '/oauth/introspect', method: 'POST', fields: [['token', token]],
    authorization: { kind: 'basic', user: 'resource-server', secret: 'resource-server-secret-0123456789' },
  })),
  ref('accessToken', 'idToken').map((token): Plausible => ({ path: '/oauth/userinfo', method: 'GET', fields: [], authorization: { kind: 'Bearer', token } })),
  optionalScope.map((scope): Plausible => ({
    path: '/oauth/token', method: 'POST', fields: [['grant_type', 'client_credentials'], ...when('scope', scope)],
    authorization: { kind: 'basic', user: CONFIDENTIAL.clientId, secret: CONFIDENTIAL.secret },
  })),
);
const plausible: fc.Arbitrary<FuzzRequest> = fc.tuple(plausibleForms, header, header).map(([form, dpop, forwardedFor]) => ({
  method: form.method,
  path: form.path,
  query: null,
  contentType: 'application/x-www-form-urlencoded',
  body: { kind: 'form', fields: form.fields },
  authorization: form.authorization,
  dpop,
  forwardedFor,
  cookie: null,
  acceptLanguage: null,
}));
const request = fc.oneof(chaotic, plausible);

// ---------- sending ----------

const resolve = (v: Value): string => {
  if (typeof v === 'string') return v;
  const pool = pools[v.pool];
  return pool.length === 0 ? '' : pool[v.index % pool.length]!;
};
/** What Node's HTTP client accepts in a header value (it refuses control characters outright). */
const headerSafe = (v: string) => v.replace(/[^\t\x20-\x7e]/g, '?').slice(0, 8000);

interface Sent {
  status: number;
  contentType: string;
  body: string;
  form: URLSearchParams | null;
}

function send(spec: FuzzRequest): Promise<Sent> {
  let payload: string | undefined;
  let form: URLSearchParams | null = null;
  if (spec.body.kind === 'form') {
    form = new URLSearchParams(spec.body.fields.map(([n, v]) => [resolve(n), resolve(v)]));
    payload = form.toString();
  } else if (spec.body.kind === 'raw') payload = spec.body.raw;
  else if (spec.body.kind === 'json') payload = JSON.stringify(spec.body.json);
  const headers: Record<string, string> = {};
  if (spec.contentType !== null && payload !== undefined) headers['content-type'] = headerSafe(spec.contentType);
  // Always framed: Node's client sends an OPTIONS or DELETE body unframed otherwise, and the server
  // would rightly read it as the next (malformed) request.
  const sendsBody = payload !== undefined && spec.method !== 'GET' && spec.method !== 'HEAD';
  if (sendsBody) headers['content-length'] = String(Buffer.byteLength(payload!));
  const auth = spec.authorization;
  if (auth?.kind === 'basic') headers.authorization = basicAuthorization(wellFormed(auth.user), wellFormed(auth.secret));
  else if (auth?.kind === 'Bearer' || auth?.kind === 'DPoP') headers.authorization = headerSafe(`${auth.kind} ${resolve(auth.token)}`);
  else if (auth?.kind === 'raw') headers.authorization = headerSafe(auth.raw);
  if (spec.dpop !== null) headers.dpop = headerSafe(spec.dpop);
  if (spec.forwardedFor !== null) headers['x-forwarded-for'] = headerSafe(spec.forwardedFor);
  if (spec.cookie !== null) headers.cookie = headerSafe(spec.cookie);
  if (spec.acceptLanguage !== null) headers['accept-language'] = headerSafe(spec.acceptLanguage);
  const query = spec.query ? `?${new URLSearchParams(spec.query.map(([n, v]) => [resolve(n), v])).toString()}` : '';
  const url = new URL(dg.issuer);
  return new Promise((resolvePromise, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, method: spec.method, path: `${spec.path}${query}`, headers, agent, timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolvePromise({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8'), form }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    let previous: string | undefined;
    req.on('socket', (socket) => {
      previous = (socket as unknown as { lastSpec?: string }).lastSpec;
      (socket as unknown as { lastSpec?: string }).lastSpec = JSON.stringify(spec).slice(0, 500);
    });
    req.on('error', (error) => reject(new Error(`${error.message}${req.reusedSocket ? ` (reused socket; previous request ${previous})` : ''}`)));
    if (sendsBody) req.end(payload);
    else req.end();
  });
}

const isPage = (p: string) => p === '/device' || p.startsWith('/device/');

/** Checks one answer and learns from it (new codes and tokens go into the pools). */
function check(spec: FuzzRequest, result: Sent): void {
  sent++;
  const where = `${spec.method} ${spec.path} → ${result.status}`;
  if (result.status >= 500 || result.status < 100) failures.push(`${where}: ${result.body.slice(0, 300)}`);
  if (result.status >= 400 && result.status < 500 && !isPage(spec.path) && spec.method !== 'HEAD') {
    let error: unknown;
    try {
      error = (JSON.parse(result.body) as { error?: unknown }).error;
    } catch {
      error = undefined;
    }
    if (!/application\/json/.test(result.contentType) || typeof error !== 'string' || error === '') {
      failures.push(`${where}: 4xx without a JSON error (${result.contentType}): ${result.body.slice(0, 200)}`);
    }
  }
  if (result.status !== 200 || spec.method !== 'POST' || !result.form) return;
  if (spec.path !== '/oauth/device_authorization' && spec.path !== '/oauth/token') return;
  const body = JSON.parse(result.body) as Record<string, string>;
  if (spec.path === '/oauth/device_authorization') {
    pools.deviceCode.push(body.device_code!);
    pools.userCode.push(body.user_code!);
  }
  if (spec.path === '/oauth/token') {
    const grantType = result.form.get('grant_type');
    if (grantType === 'urn:ietf:params:oauth:grant-type:device_code') {
      const code = result.form.get('device_code')!;
      redeemedCodes.set(code, (redeemedCodes.get(code) ?? 0) + 1);
    }
    if (grantType === 'refresh_token') {
      const token = result.form.get('refresh_token')!;
      refreshedTokens.set(token, (refreshedTokens.get(token) ?? 0) + 1);
    }
    if (body.access_token) pools.accessToken.push(body.access_token);
    if (body.refresh_token) pools.refreshToken.push(body.refresh_token);
    if (body.id_token) pools.idToken.push(body.id_token);
  }
}

/** A person approves or denies some waiting codes between batches, so polls find every state. */
async function decideSome(random: () => number): Promise<void> {
  const { approval } = dg.appliance.context;
  for (let i = 0; i < 2 && pools.userCode.length > 0; i++) {
    const userCode = pools.userCode[Math.floor(random() * pools.userCode.length)]!;
    if (random() < 0.8) await approval.approveUserCode(userCode, dg.demoUserId);
    else await approval.denyUserCode(userCode, dg.demoUserId);
  }
}

test(`${BATCH * RUNS} generated requests across every endpoint: no 5xx, JSON errors, the appliance stays up`, { timeout: 240_000 }, async () => {
  let runIndex = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(request, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
      // A deterministic walk over the pools for the approvals, from the seed and the run.
      let state = (SEED + runIndex++) | 0;
      const random = () => ((state = (Math.imul(state, 1103515245) + 12345) | 0) >>> 0) / 2 ** 32;
      await decideSome(random);
      const before = failures.length;
      const results = await Promise.all(
        batch.map(async (spec) => {
          try {
            const started = performance.now();
            check(spec, await send(spec));
            const took = performance.now() - started;
            if (took > 500) slow.push(`${Math.round(took)} ms ${spec.method} ${spec.path} ${JSON.stringify(spec.body).slice(0, 200)}`);
          } catch (error) {
            // A dropped connection or an unreadable answer is as bad as a 5xx.
            failures.push(`${spec.method} ${spec.path}: ${(error as Error).message} ${JSON.stringify(spec).slice(0, 600)}`);
          }
        }),
      );
      assert.equal(results.length, BATCH);
      assert.equal(failures.length, before, failures.slice(before).join('\n'));
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  ).catch((error: Error) => {
    // The failing answers first (the batch that produced them follows in fast-check's report).
    throw new Error(`${failures.length} bad answers (seed ${SEED}):\n${failures.slice(0, 20).join('\n')}\n\n${error.message.slice(0, 4000)}`);
  });
  assert.ok(sent >= BATCH * RUNS, `sent ${sent}`);
  const health = await fetch(`${dg.issuer}/healthz`);
  assert.equal(health.status, 200, 'the appliance is still up');
  assert.equal((await fetch(`${dg.issuer}/readyz`)).status, 200, 'and ready');
  if (slow.length) console.log(`fuzz: ${slow.length} slow answers, e.g.\n${slow.slice(0, 10).join('\n')}`);
  console.log(`fuzz: ${sent} requests; pools: ${Object.entries(pools).map(([k, v]) => `${k} ${v.length}`).join(', ')}; ${redeemedCodes.size} codes redeemed, ${refreshedTokens.size} refreshes`);
});

test('afterwards: no device code was redeemed into two token families', () => {
  // A code may answer tokens more than once: its own client's retries within the window get
  // fresh sets of the same family (docs/security.md REDEEM-RETRY). Never a second family.
  const report = readInvariants(dg.dataDir);
  assert.deepEqual(report.sharedFamilies, [], 'no token family from two device codes');
  assert.equal(report.orphanFamilies, 0, 'no family that its device code does not name');
  assert.equal(report.redeemedWithoutFamily, 0);
});

test('afterwards: no refresh token has two live successors', () => {
  // A token may be answered twice within the retry window (REFRESH-RETRY), the second successor
  // replacing the first. A linear chain has exactly one live head per live family; a fork would
  // leave two.
  assert.deepEqual(readInvariants(dg.dataDir).forks, []);
});

test('afterwards: no token of a revoked grant is active', async () => {
  const report = readInvariants(dg.dataDir);
  assert.equal(report.liveRefreshOfRevoked, 0, 'refresh tokens of revoked grants are revoked');
  assert.equal(report.liveAccessOfRevoked, 0, 'access tokens of revoked grants are revoked');
  assert.ok(report.revokedGrants > 0, 'the fuzz revoked some grants (revocation, refresh reuse)');
  // And over HTTP: introspection calls every token of a revoked grant inactive.
  const { accessTokens, store } = dg.appliance.context;
  let checked = 0;
  for (const token of [...pools.accessToken, ...pools.refreshToken]) {
    const record = (await accessTokens.lookup(token)) ?? (await store.refreshTokens.find(hashSecret(token)));
    const grantId = record?.grantId;
    if (!grantId || !(await store.grants.get(grantId))?.revokedAt) continue;
    const result = await introspect(dg, token, introspector);
    assert.deepEqual(result.body, { active: false });
    checked++;
  }
  assert.ok(checked > 0, 'some tokens of revoked grants were checked');
});
