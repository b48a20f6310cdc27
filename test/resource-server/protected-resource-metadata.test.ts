// Protected resource metadata (RFC 9728) in the resource-server helper, read by oauth4webapi (a
// third-party client that implements RFC 9728): the well-known document, the challenge that
// names it, and a whole sign-in that starts from the API's URL alone and ends at the API.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import { createTokenVerifier, protectedResourceMetadataUrl, type TokenVerifier } from '@devicegate/server/resource-server';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';

const insecure = { [oauth.allowInsecureRequests]: true } as const;
let dg: TestAppliance;
const servers: Server[] = [];

/** An API on 127.0.0.1 whose resource identifier is its own URL + `path`, behind the helper. */
async function startApi(path: string, name: string): Promise<{ resource: string; verifier: TokenVerifier }> {
  let verifier: TokenVerifier | undefined;
  const server = createServer((request, response) => {
    verifier!.serveMetadata()(request, response, () =>
      verifier!.requireToken({ scopes: ['tools'] })(request, response, () => {
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify({ hello: (request as { auth?: { sub: string } }).auth?.sub }));
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const resource = `${origin}${path}`;
  verifier = createTokenVerifier({ issuer: dg.issuer, resource, baseUrl: origin, resourceMetadata: { resourceName: name, scopesSupported: ['tools'] } });
  await dg.appliance.context.store.resources.put({ resource, name, createdAt: dg.appliance.context.clock.now() });
  return { resource, verifier };
}

let tools: { resource: string; verifier: TokenVerifier };
let notes: { resource: string; verifier: TokenVerifier };
before(async () => {
  dg = await startTestAppliance({ modules: 'none' });
  await dg.addClient({ clientId: 'prm-agent', pollInterval: 1, scopes: ['tools'] });
  tools = await startApi('/mcp', 'Tools');
  notes = await startApi('/', 'Notes');
});
after(async () => {
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
  await dg.stop();
});

test('the metadata URL puts the well-known segment between host and path (RFC 9728 §3.1)', () => {
  assert.equal(protectedResourceMetadataUrl('https://api.example.com/mcp'), 'https://api.example.com/.well-known/oauth-protected-resource/mcp');
  assert.equal(protectedResourceMetadataUrl('https://api.example.com/'), 'https://api.example.com/.well-known/oauth-protected-resource');
  assert.equal(protectedResourceMetadataUrl('https://api.example.com'), 'https://api.example.com/.well-known/oauth-protected-resource');
});

test('oauth4webapi reads the helper’s metadata: the resource, devicegate as its authorization server, name and scopes', async () => {
  for (const api of [tools, notes]) {
    const metadata = await oauth.processResourceDiscoveryResponse(new URL(api.resource), await oauth.resourceDiscoveryRequest(new URL(api.resource), insecure));
    assert.equal(metadata.resource, api.resource);
    assert.deepEqual(metadata.authorization_servers, [dg.issuer]);
    assert.deepEqual(metadata.bearer_methods_supported, ['header']);
    assert.deepEqual(metadata.scopes_supported, ['tools']);
    assert.ok(metadata.dpop_signing_alg_values_supported?.includes('ES256'));
  }
});

test('a request without a token, or with a bad one, is answered 401 with WWW-Authenticate naming resource_metadata', async () => {
  for (const authorization of [undefined, 'Bearer not-a-token']) {
    const response = await fetch(tools.resource, { headers: authorization ? { authorization } : {} });
    assert.equal(response.status, 401);
    const challenges = response.headers.get('www-authenticate') ?? '';
    assert.match(challenges, new RegExp(`resource_metadata="${protectedResourceMetadataUrl(tools.resource).replace(/[.]/g, '\\.')}"`));
    if (authorization) assert.match(challenges, /error="invalid_token"/);
  }
});

test('from the API’s URL alone: challenge, resource metadata, issuer metadata, device flow for that resource, the API answers', async () => {
  // 1. The agent knows only the URL: the API's 401 names its metadata (RFC 9728 §5.1).
  const unauthenticated = await fetch(tools.resource);
  const challenge = /resource_metadata="([^"]+)"/.exec(unauthenticated.headers.get('www-authenticate') ?? '');
  assert.ok(challenge);
  const resourceMetadata = await oauth.processResourceDiscoveryResponse(new URL(tools.resource), await fetch(challenge[1]!));
  // 2. The issuer it names, by RFC 8414.
  const issuer = new URL(resourceMetadata.authorization_servers![0]!);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  // 3. The device flow for that resource (RFC 8628, RFC 8707).
  const agent = { client_id: 'prm-agent' };
  const started = await oauth.deviceAuthorizationRequest(as, agent, oauth.None(), { scope: 'tools', resource: tools.resource }, insecure);
  const authorization = await oauth.processDeviceAuthorizationResponse(as, agent, started);
  assert.equal(await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId), true);
  const tokens = await oauth.processDeviceCodeResponse(as, agent, await oauth.deviceCodeGrantRequest(as, agent, oauth.None(), authorization.device_code, insecure));
  // 4. The API answers; the other API refuses the same token (its aud is the first API only).
  const called = await oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL(tools.resource), undefined, undefined, insecure);
  assert.equal(called.status, 200);
  assert.deepEqual(await called.json(), { hello: dg.demoUserId });
  const elsewhere = await fetch(notes.resource, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(elsewhere.status, 401);
  assert.match(elsewhere.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
});

test('a verifier without `resource` serves no metadata and names none', async () => {
  const verifier = createTokenVerifier({ issuer: dg.issuer, audience: 'https://plain.example.test' });
  assert.equal(verifier.metadataUrl, undefined);
  await assert.rejects(verifier.verify({ headers: {} }), (error: { wwwAuthenticate: string }) => !error.wwwAuthenticate.includes('resource_metadata'));
});
