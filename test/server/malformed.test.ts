// Hostile input (RFC 6749 §5.2 errors; docs/security.md threat 15): several hundred malformed
// requests, generated from a fixed seed so every run sends the same ones, to every endpoint of the
// OAuth core: wrong methods, content types, garbage and huge bodies, unicode, repeated parameters,
// bad Basic headers, bad bearer tokens, path junk. Each must be answered (bounded wait, never a
// hang) with a 4xx JSON error, or a 200 where the request is legitimately valid, and never a 5xx;
// the appliance must be healthy afterwards.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { DEVICE_CODE_GRANT_TYPE, deviceAuthorize, signInDevice } from './http.ts';

const SEED = 0x5eed_2002;
const REQUEST_TIMEOUT_MS = 10_000;
const PARALLEL = 6;

/** mulberry32: a tiny seeded PRNG, enough to make the case list reproducible. */
function seededRandom(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (below: number) => Math.floor(next() * below),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    bytes: (length: number) => Buffer.from(Array.from({ length }, () => Math.floor(next() * 256))),
  };
}

interface Case {
  name: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface Endpoint {
  path: string;
  methods: string[];
  parameters: string[];
}

/** RFC 7523 client authentication parameters, which every client-authenticating endpoint reads. */
const ASSERTION = ['client_assertion_type', 'client_assertion'];

const endpoints: Endpoint[] = [
  { path: '/oauth/device_authorization', methods: ['POST'], parameters: ['client_id', 'client_secret', 'scope', 'device_name', 'device_model', ...ASSERTION] },
  { path: '/oauth/token', methods: ['POST'], parameters: ['grant_type', 'client_id', 'client_secret', 'device_code', 'refresh_token', 'scope', ...ASSERTION] },
  { path: '/oauth/revoke', methods: ['POST'], parameters: ['token', 'token_type_hint', 'client_id', 'client_secret', ...ASSERTION] },
  { path: '/oauth/introspect', methods: ['POST'], parameters: ['token', 'token_type_hint', 'client_id', 'client_secret', ...ASSERTION] },
  { path: '/oauth/userinfo', methods: ['GET', 'POST'], parameters: ['access_token'] },
  { path: '/oauth/jwks', methods: ['GET'], parameters: [] },
  { path: '/.well-known/openid-configuration', methods: ['GET'], parameters: [] },
  { path: '/.well-known/oauth-authorization-server', methods: ['GET'], parameters: [] },
  { path: '/healthz', methods: ['GET'], parameters: [] },
  { path: '/readyz', methods: ['GET'], parameters: [] },
];

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND', 'SEARCH'];
const CONTENT_TYPES = [
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=utf-8',
  'APPLICATION/X-WWW-FORM-URLENCODED',
  'application/x-www-form-urlencoded; charset=iso-8859-1',
  'application/x-www-form-urlencodedx',
  'application/json',
  'text/plain',
  'multipart/form-data; boundary=----x',
  'application/xml',
  'application/octet-stream',
  ';;;',
  'x/y; a="unterminated',
  '',
];

function generateValue(random: ReturnType<typeof seededRandom>): string {
  const values = [
    '',
    ' ',
    'demo-tv',
    DEVICE_CODE_GRANT_TYPE,
    'refresh_token',
    'client_credentials',
    'openid profile',
    'openid "quoted"',
    'x'.repeat(4097),
    'y'.repeat(300),
    'ü'.repeat(40),
    '📺 Living room',
    '\u0000\u0001\u0002',
    '\u202Eevil',
    'line\r\nInjected: header',
    "' OR 1=1 --",
    '"; DROP TABLE clients; --',
    'null',
    'undefined',
    '__proto__',
    'constructor',
    '[object Object]',
    '{"a":1}',
    'a.b.c',
    'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
    'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.e30.AAAA',
    'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    // A JWT whose claims name demo-tv and a bogus key, and one with a non-JSON payload.
    `${Buffer.from('{"alg":"ES256","kid":"x"}').toString('base64url')}.${Buffer.from('{"iss":"demo-tv","sub":"demo-tv","aud":"x","exp":1}').toString('base64url')}.AAAA`,
    `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('not json').toString('base64url')}.`,
    '%ZZ%',
    '\uFFFF\uFFFE',
    random.bytes(24).toString('base64url'),
    random.bytes(16).toString('latin1'),
  ];
  return random.pick(values);
}

function formBody(random: ReturnType<typeof seededRandom>, endpoint: Endpoint): Buffer {
  const names = [...endpoint.parameters, 'grant_type', 'unknown', '__proto__', 'constructor', 'a[b]', 'ü', ''];
  const pairs: string[] = [];
  const count = 1 + random.int(6);
  for (let i = 0; i < count; i++) {
    const name = random.pick(names);
    pairs.push(`${encodeURIComponent(name)}=${encodeURIComponent(generateValue(random))}`);
    // Sometimes the same name again: repeated parameters are refused (RFC 6749 §3.1).
    if (random.next() < 0.2) pairs.push(`${encodeURIComponent(name)}=${encodeURIComponent(generateValue(random))}`);
  }
  return Buffer.from(pairs.join('&'));
}

function garbageBody(random: ReturnType<typeof seededRandom>, endpoint: Endpoint): Buffer {
  const bodies = [
    () => random.bytes(1 + random.int(512)),
    () => Buffer.from('%'),
    () => Buffer.from('%%%%%%'),
    () => Buffer.from('=&=&=&'),
    () => Buffer.from('&&&&&&&&'),
    () => Buffer.from('a=%ZZ&b=%E0%A4%A'),
    () => Buffer.from('client_id=%00%00&grant_type=%ED%A0%80'),
    () => Buffer.from(JSON.stringify({ client_id: 'demo-tv', grant_type: 'client_credentials' })),
    () => Buffer.from('{"__proto__": {"admin": true}}'),
    () => Buffer.from(`client_id=demo-tv&${'p'.repeat(20_000)}=1`),
    () => Buffer.from('x='.concat('z'.repeat(40_000))),
    () => Buffer.from('\u{1F4FA}=\u{1F4FA}&ü=ü'),
    () => Buffer.from('client_id=demo-tv&client_id=demo-tv&client_id=demo-tv'),
    () => Buffer.from('a'.repeat(2000).split('').join('&')),
    () => formBody(random, endpoint),
  ];
  return random.pick(bodies)();
}

function authorizationHeader(random: ReturnType<typeof seededRandom>): string | undefined {
  const headers = [
    undefined,
    'Basic',
    'Basic ',
    'Basic !!!',
    'Basic ====',
    `Basic ${Buffer.from('no-colon').toString('base64')}`,
    `Basic ${Buffer.from(':').toString('base64')}`,
    `Basic ${Buffer.from('demo-tv:').toString('base64')}`,
    `Basic ${Buffer.from('%zz:%zz').toString('base64')}`,
    `Basic ${Buffer.from('a:b:c').toString('base64')}`,
    `Basic ${random.bytes(48).toString('base64')}`,
    `Basic ${Buffer.from(`${'c'.repeat(3000)}:${'s'.repeat(3000)}`).toString('base64')}`,
    `basic ${Buffer.from('resource-server:wrong').toString('base64')}`,
    'Bearer',
    'Bearer ',
    'Bearer not-a-token',
    'Bearer a.b.c',
    'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
    'Bearer ' + 'A'.repeat(9000),
    'Bearer x y z',
    'DPoP abc',
    'Digest username="x"',
    'Negotiate YII=',
    '\u00ff\u00fe',
  ];
  return random.pick(headers);
}

const JUNK_PATHS = [
  '/oauth/token/',
  '/oauth//token',
  '//oauth/token',
  '/oauth/token/../token',
  '/oauth/%2e%2e/oauth/token',
  '/oauth/token%00',
  '/oauth/%ZZ',
  '/oauth/token?%',
  '/oauth/token?grant_type=client_credentials&client_id=demo-tv',
  '/oauth/userinfo;jsessionid=1',
  '/oauth/jwks/../../etc/passwd',
  '/.well-known/openid-configuration/extra',
  '/.well-known/',
  '/.well-known/%C0%AE%C0%AE/',
  '/oauth/' + 'a'.repeat(4000),
  '/oauth/%F0%9F%93%BA',
  '/OAUTH/TOKEN',
  '/oauth/introspect?token=' + 'x'.repeat(3000),
  '/healthz/../readyz',
  '/oauth/device_authorization.json',
  '/index.php',
  '/%',
];

/** Real codes and tokens, so mutated requests get past client authentication and lookups. */
interface Fixtures {
  deviceCode: string;
  refreshToken: string;
  accessToken: string;
  /** Tokens of a second sign-in, for revocation (which would spoil the first set). */
  revocableToken: string;
}

const RESOURCE_SERVER = { clientId: 'resource-server', secret: 'resource-server-secret-0123456789' };
const resourceServerBasic = `Basic ${Buffer.from(`${RESOURCE_SERVER.clientId}:${RESOURCE_SERVER.secret}`).toString('base64')}`;

/** A valid request per endpoint and grant, the starting point of the mutations. */
function validRequests(fixtures: Fixtures): { path: string; headers: Record<string, string>; parameters: [string, string][] }[] {
  return [
    { path: '/oauth/device_authorization', headers: {}, parameters: [['client_id', 'demo-tv'], ['scope', 'openid'], ['device_name', 'TV']] },
    { path: '/oauth/token', headers: {}, parameters: [['grant_type', DEVICE_CODE_GRANT_TYPE], ['client_id', 'demo-tv'], ['device_code', fixtures.deviceCode]] },
    { path: '/oauth/token', headers: {}, parameters: [['grant_type', 'refresh_token'], ['client_id', 'demo-tv'], ['refresh_token', fixtures.refreshToken], ['scope', 'openid']] },
    { path: '/oauth/token', headers: { authorization: resourceServerBasic }, parameters: [['grant_type', 'client_credentials'], ['scope', 'api']] },
    { path: '/oauth/revoke', headers: {}, parameters: [['client_id', 'demo-tv'], ['token', fixtures.revocableToken], ['token_type_hint', 'access_token']] },
    { path: '/oauth/introspect', headers: { authorization: resourceServerBasic }, parameters: [['token', fixtures.accessToken], ['token_type_hint', 'access_token']] },
    { path: '/oauth/userinfo', headers: { authorization: `Bearer ${fixtures.accessToken}` }, parameters: [] },
  ];
}

/** One change to a valid request: a junk value, a repeat, a removal, an extra, other credentials. */
function mutate(random: ReturnType<typeof seededRandom>, parameters: [string, string][], headers: Record<string, string>) {
  const out = parameters.map(([name, value]) => [name, value] as [string, string]);
  const outHeaders = { ...headers };
  const index = out.length > 0 ? random.int(out.length) : -1;
  switch (random.int(6)) {
    case 0:
      if (index >= 0) out[index]![1] = generateValue(random);
      break;
    case 1:
      if (index >= 0) out.push([out[index]![0], random.next() < 0.5 ? out[index]![1] : generateValue(random)]);
      break;
    case 2:
      if (index >= 0) out.splice(index, 1);
      break;
    case 3:
      out.push([random.pick(['access_token', 'client_secret', 'client_id', 'scope', 'x', 'ü', '']), generateValue(random)]);
      break;
    case 4: {
      const authorization = authorizationHeader(random);
      if (authorization === undefined) delete outHeaders.authorization;
      else outHeaders.authorization = authorization;
      break;
    }
    default:
      if (index >= 0) out[index]![0] = out[index]![0].toUpperCase();
  }
  const body = out.map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`).join('&');
  return { body: Buffer.from(body), headers: outHeaders };
}

function generateCases(fixtures: Fixtures): Case[] {
  const random = seededRandom(SEED);
  const cases: Case[] = [];
  // Valid requests, one thing changed.
  for (const valid of validRequests(fixtures)) {
    for (let i = 0; i < 30; i++) {
      const { body, headers } = mutate(random, valid.parameters, valid.headers);
      cases.push({
        name: `mutation #${i} of ${valid.path} (${valid.parameters[0]?.[1] ?? 'bearer'})`,
        method: 'POST',
        path: valid.path,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body,
      });
    }
  }
  // Every method on every endpoint.
  for (const endpoint of endpoints) {
    for (const method of METHODS) {
      cases.push({ name: `${method} ${endpoint.path}`, method, path: endpoint.path, headers: {} });
    }
  }
  // Per endpoint: random content types, bodies, parameters and credentials.
  for (const endpoint of endpoints) {
    const perEndpoint = endpoint.methods.includes('POST') ? 80 : 12;
    for (let i = 0; i < perEndpoint; i++) {
      const headers: Record<string, string> = {};
      // Mostly the right media type, so most cases reach the endpoint's own parameter checks.
      const contentType = random.next() < 0.6 ? random.pick(CONTENT_TYPES.slice(0, 3)) : random.pick(CONTENT_TYPES);
      if (contentType !== '' || random.next() < 0.5) headers['content-type'] = contentType;
      const authorization = authorizationHeader(random);
      if (authorization !== undefined) headers.authorization = authorization;
      if (random.next() < 0.05) headers['content-encoding'] = 'gzip';
      if (random.next() < 0.1) headers.dpop = 'not.a.proof';
      const body = random.next() < 0.5 ? formBody(random, endpoint) : garbageBody(random, endpoint);
      const method = random.next() < 0.85 ? (endpoint.methods.includes('POST') ? 'POST' : 'GET') : random.pick(METHODS);
      cases.push({ name: `#${i} ${method} ${endpoint.path} (${contentType || 'no type'})`, method, path: endpoint.path, headers, body: method === 'HEAD' ? undefined : body });
    }
  }
  // Path junk, with and without a body.
  for (const path of JUNK_PATHS) {
    for (const method of ['GET', 'POST']) {
      cases.push({
        name: `${method} ${path.slice(0, 60)}`,
        method,
        path,
        headers: method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {},
        body: method === 'POST' ? Buffer.from('client_id=demo-tv') : undefined,
      });
    }
  }
  return cases;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function send(base: URL, item: Case): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...item.headers };
    if (item.body) headers['content-length'] = item.body.length;
    const req = http.request(
      { host: base.hostname, port: base.port, method: item.method, path: item.path, headers, agent: false, timeout: REQUEST_TIMEOUT_MS },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms (hang)`)));
    req.on('error', reject);
    req.end(item.body);
  });
}

/** What is wrong with an answer, or null when it is acceptable. */
function judge(item: Case, answer: Answer): string | null {
  if (answer.status >= 500) return `server error ${answer.status}: ${answer.body.slice(0, 200)}`;
  if (answer.status < 200 || (answer.status >= 300 && answer.status < 400)) return `unexpected status ${answer.status}`;
  if (item.method === 'HEAD') return null; // no body by definition
  const isJson = /^application\/(json|jwk-set\+json)/.test(String(answer.headers['content-type'] ?? ''));
  if (answer.status >= 400) {
    if (!isJson) return `${answer.status} without a JSON body (${answer.headers['content-type']}): ${answer.body.slice(0, 120)}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body);
    } catch {
      return `${answer.status} with a body that is not JSON: ${answer.body.slice(0, 120)}`;
    }
    const error = (parsed as { error?: unknown }).error;
    if (typeof error !== 'string' || !/^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/.test(error)) return `${answer.status} without an RFC 6749 error code`;
    return null;
  }
  // 2xx: only where the request may really be valid.
  if (item.path === '/oauth/revoke' && answer.body === '') return null; // RFC 7009 §2.2: unknown tokens are "revoked" too
  // A CORS preflight answer (docs/security.md CORS-ORIGIN): empty 204, whatever the request holds.
  if (item.method === 'OPTIONS' && answer.status === 204 && answer.body === '') return null;
  if (!isJson) return `${answer.status} without JSON: ${answer.body.slice(0, 120)}`;
  return null;
}

let dg: TestAppliance;
let fixtures: Fixtures;
before(async () => {
  // This file tests input handling, not abuse limits (test/security/abuse-limits.test.ts has their
  // own): the per-address buckets are raised, as config.ts advises for load tests, so hundreds of
  // bad requests from 127.0.0.1 still reach the endpoints' own checks. A 429 would still pass as a
  // 4xx JSON error; it would only test less.
  const generous = { points: 100_000, duration: 60 };
  dg = await startTestAppliance({
    overrides: {
      limits: {
        deviceAuthorizationPerClientAndAddress: generous,
        tokenPerAddress: generous,
        revocationPerClientAndAddress: generous,
        introspectionPerClient: generous,
        userinfoPerAddress: generous,
        metadataPerAddress: generous,
        clientAuthenticationFailuresPerAddress: generous,
      },
    },
  });
  await dg.addClient(
    { clientId: RESOURCE_SERVER.clientId, grantTypes: ['client_credentials'], scopes: ['api'], mayIntrospect: true },
    RESOURCE_SERVER.secret,
  );
  const pending = await deviceAuthorize(dg, { client_id: 'demo-tv', scope: 'openid' });
  const first = await signInDevice(dg);
  const second = await signInDevice(dg);
  fixtures = {
    deviceCode: pending.device_code,
    refreshToken: first.tokens.refresh_token!,
    accessToken: first.tokens.access_token,
    revocableToken: second.tokens.access_token,
  };
});
after(() => dg.stop());

test('the seeded case list is a few hundred requests covering every endpoint', () => {
  const cases = generateCases(fixtures);
  assert.ok(cases.length >= 400, String(cases.length));
  for (const endpoint of endpoints) assert.ok(cases.filter((item) => item.path === endpoint.path).length >= 20, endpoint.path);
  assert.deepEqual(generateCases(fixtures), cases, 'the same seed gives the same requests');
});

test('malformed requests to every endpoint get 4xx JSON errors (or a legitimate 200), never a 5xx or a hang', async () => {
  const base = new URL(dg.issuer);
  const cases = generateCases(fixtures);
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const item = cases[next++]!;
      try {
        const answer = await send(base, item);
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        const problem = judge(item, answer);
        if (problem) failures.push(`${item.name}: ${problem}`);
      } catch (error) {
        failures.push(`${item.name}: ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  if (process.env.MALFORMED_DEBUG) console.log([...statuses].sort());
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} requests were answered wrongly`);
  // The cases really were mostly refused: a generator producing only valid requests would prove nothing.
  const refused = [...statuses].filter(([status]) => status >= 400).reduce((sum, [, count]) => sum + count, 0);
  assert.ok(refused > cases.length * 0.8, JSON.stringify([...statuses]));
});

test('the appliance is healthy and serves a full device flow afterwards', async () => {
  assert.equal((await fetch(`${dg.issuer}/healthz`)).status, 200);
  assert.equal((await fetch(`${dg.issuer}/readyz`)).status, 200);
  const { tokens } = await signInDevice(dg);
  assert.ok(tokens.access_token);
});
