// OAuth Client ID Metadata Documents, fetched safely (docs/security.md CIMD-FETCH): real
// HTTP servers this test starts on 127.0.0.1 serve a good document, a slow one, a huge one, one
// that redirects to the cloud metadata address, and ones that lie. The appliance under test has
// the explicit test-only escape hatch (http and loopback allowed); a second one without it
// refuses loopback outright. A good document's client signs in, shown as unverified.
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import * as client from 'openid-client';
import { startTestAppliance, DEMO_PASSWORD, type TestAppliance } from '../support/appliance.ts';
import { createPageSession, csrfOf, EN, message, reachConsent, requestIdOf, ROOMY_LIMITS } from '../verification-ui/support.ts';
import { fetchMetadataDocument, refusedAddress } from '../../server/src/services/metadata-fetch.ts';

let dg: TestAppliance;
let documents: Server;
let origin: string;
const hits = new Map<string, number>();
const hanging: ServerResponse[] = [];

function json(response: ServerResponse, body: unknown): void {
  response.setHeader('content-type', 'application/json');
  response.end(JSON.stringify(body));
}

before(async () => {
  documents = createServer((request, response) => {
    const path = request.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const self = `${origin}${path}`;
    const good = { client_id: self, client_name: 'Meeting notes agent', grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], token_endpoint_auth_method: 'none', scope: 'openid offline_access' };
    if (path.startsWith('/good')) return json(response, good);
    // Never answers while the test runs: the fetch must give up on its own time limit.
    if (path === '/slow') return void hanging.push(response);
    if (path === '/huge') {
      response.setHeader('content-type', 'application/json');
      response.write(`{"client_id":"${self}","padding":"`);
      response.end(`${'x'.repeat(1024 * 1024)}"}`);
      return;
    }
    if (path === '/huge-declared') {
      response.setHeader('content-type', 'application/json');
      response.setHeader('content-length', String(10 * 1024 * 1024));
      response.write('{');
      return void hanging.push(response);
    }
    if (path === '/redirect') {
      response.statusCode = 302;
      response.setHeader('location', 'http://169.254.169.254/latest/meta-data/');
      return void response.end();
    }
    if (path === '/other-id') return json(response, { ...good, client_id: `${origin}/good` });
    if (path === '/with-secret') return json(response, { ...good, client_secret: 'shh' });
    if (path === '/confidential') return json(response, { ...good, token_endpoint_auth_method: 'client_secret_basic' });
    if (path === '/html') {
      response.setHeader('content-type', 'text/html');
      return void response.end('<html></html>');
    }
    response.statusCode = 404;
    response.end();
  });
  await new Promise<void>((resolve) => documents.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(documents.address() as AddressInfo).port}`;
  dg = await startTestAppliance({
    overrides: {
      limits: ROOMY_LIMITS,
      registration: { clientMetadataDocuments: true, unsafeAllowLoopbackForTests: true, metadataDocumentTimeout: 500 },
    },
  });
});
after(async () => {
  for (const response of hanging) response.destroy();
  documents.closeAllConnections();
  await new Promise((resolve) => documents.close(resolve));
  await dg.stop();
});

/** A device authorization naming `clientId`; the OAuth error, or null on success. */
async function deviceAuthorization(issuer: string, clientId: string): Promise<{ status: number; error?: string; description?: string }> {
  const response = await fetch(`${issuer}/oauth/device_authorization`, { method: 'POST', body: new URLSearchParams({ client_id: clientId, scope: 'openid' }) });
  const body = (await response.json()) as { error?: string; error_description?: string };
  return { status: response.status, ...(body.error ? { error: body.error, description: body.error_description } : {}) };
}

test('discovery says client id metadata documents are supported', async () => {
  const metadata = (await (await fetch(`${dg.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
  assert.equal(metadata.client_id_metadata_document_supported, true);
});

test('a client whose id is its metadata document URL signs in, shown as unverified; the document is fetched once, then cached', async () => {
  const clientId = `${origin}/good/notes`;
  const config = await client.discovery(new URL(dg.issuer), clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
  const authorization = await client.initiateDeviceAuthorization(config, { scope: 'openid offline_access' });
  const session = createPageSession(dg.issuer);
  const consent = await reachConsent(session, authorization.user_code, { username: 'demo', password: DEMO_PASSWORD });
  assert.match(consent.text, new RegExp(message(EN, 'consent.unverifiedTitle')));
  assert.match(consent.text, /Meeting notes agent/);
  const approved = await session.request('/device/consent', {
    form: new URLSearchParams([['csrf', csrfOf(consent.text)], ['request', requestIdOf(consent.text)], ['decision', 'approve'], ['scope', 'openid'], ['scope', 'offline_access']]),
  });
  assert.equal(approved.status, 303);
  const tokens = await client.pollDeviceAuthorizationGrant(config, authorization);
  assert.ok(tokens.access_token && tokens.refresh_token);
  assert.equal((await deviceAuthorization(dg.issuer, clientId)).status, 200);
  assert.equal(hits.get('/good/notes'), 1, 'one fetch for the whole sign-in and the next request');
  assert.equal((await dg.appliance.context.store.clients.get(clientId))?.registration, 'metadata_document');
});

test('a slow document is given up on at the time limit', async () => {
  const refused = await deviceAuthorization(dg.issuer, `${origin}/slow`);
  assert.equal(refused.status, 401);
  assert.equal(refused.error, 'invalid_client');
  assert.match(refused.description!, /did not arrive within 500 ms/);
});

test('a huge document is refused at the size limit, whether or not it declares its length', async () => {
  for (const path of ['/huge', '/huge-declared']) {
    const refused = await deviceAuthorization(dg.issuer, `${origin}${path}`);
    assert.equal(refused.error, 'invalid_client', path);
    assert.match(refused.description!, /larger than 5120 bytes/, path);
  }
});

test('a redirect, here to the cloud metadata address, is not followed', async () => {
  const refused = await deviceAuthorization(dg.issuer, `${origin}/redirect`);
  assert.equal(refused.error, 'invalid_client');
  assert.match(refused.description!, /redirect.*not followed/);
});

test('a document that names another client id, holds a secret, asks to be confidential or is not JSON is refused', async () => {
  for (const [path, reason] of [['/other-id', /client_id is not the URL/], ['/with-secret', /public/], ['/confidential', /token_endpoint_auth_method/], ['/html', /not application\/json/], ['/missing', /HTTP 404/]] as const) {
    const refused = await deviceAuthorization(dg.issuer, `${origin}${path}`);
    assert.equal(refused.error, 'invalid_client', path);
    assert.match(refused.description!, reason, path);
  }
});

test('an operator’s block holds: a blocked metadata-document client is not refreshed from its document', async () => {
  const clientId = `${origin}/good/blocked`;
  assert.equal((await deviceAuthorization(dg.issuer, clientId)).status, 200);
  const stored = (await dg.appliance.context.store.clients.get(clientId))!;
  await dg.appliance.context.store.clients.put({ ...stored, disabled: true, createdAt: 0 });
  assert.equal((await deviceAuthorization(dg.issuer, clientId)).error, 'invalid_client');
});

test('without the escape hatch, loopback and private addresses are refused before any request is made', async () => {
  const strict = await startTestAppliance({ modules: 'none', overrides: { registration: { clientMetadataDocuments: true } } });
  try {
    const before = hits.get('/good/strict') ?? 0;
    // https://localhost resolves to the loopback address: refused at the lookup, nothing is sent.
    const refused = await deviceAuthorization(strict.issuer, `https://localhost:${new URL(origin).port}/good/strict`);
    assert.equal(refused.error, 'invalid_client');
    assert.match(refused.description!, /loopback address/);
    assert.equal(hits.get('/good/strict') ?? 0, before);
    for (const literal of ['https://10.1.2.3/client', 'https://[::ffff:192.168.1.1]/client', 'https://169.254.169.254/client']) {
      const answer = await deviceAuthorization(strict.issuer, literal);
      assert.equal(answer.error, 'invalid_client', literal);
      assert.match(answer.description!, /private|linkLocal/, literal);
    }
    // Plain http is not a metadata document URL without the hatch: just an unknown client id.
    assert.match((await deviceAuthorization(strict.issuer, `${origin}/good/strict`)).description!, /unknown client/);
  } finally {
    await strict.stop();
  }
});

test('the address rule: public unicast only; loopback only with the hatch; IPv4-mapped IPv6 judged as IPv4', async () => {
  assert.equal(refusedAddress('93.184.216.34', false), null);
  assert.equal(refusedAddress('2606:2800:220:1:248:1893:25c8:1946', false), null);
  for (const address of ['127.0.0.1', '10.0.0.1', '172.16.0.1', '192.168.0.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '224.0.0.1']) {
    assert.notEqual(refusedAddress(address, false), null, address);
  }
  assert.equal(refusedAddress('127.0.0.1', true), null);
  assert.notEqual(refusedAddress('10.0.0.1', true), null);
  await assert.rejects(fetchMetadataDocument('ftp://example.com/x', { maxBytes: 5120, timeoutMs: 500, allowLoopback: false }), /over https/);
});
