// Consent and My devices name the services a device asked for with resource indicators
// (RFC 8707): openid-client is the device, the person approves through the pages' real forms.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { startTestAppliance, DEMO_PASSWORD, type TestAppliance } from '../support/appliance.ts';
import { createPageSession, csrfOf, deviceConfig, EN, message, reachConsent, requestIdOf, ROOMY_LIMITS } from './support.ts';

const TOOLS = 'https://tools.example.test/mcp';
const CALENDAR = 'https://calendar.example.test';

let dg: TestAppliance;
before(async () => {
  dg = await startTestAppliance({ overrides: { limits: ROOMY_LIMITS } });
  await dg.addClient({
    clientId: 'pages-agent',
    name: 'Coding agent',
    pollInterval: 1,
    scopes: ['offline_access', 'tools'],
    grantTypes: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:token-exchange'],
  });
  const now = dg.appliance.context.clock.now();
  await dg.appliance.context.store.resources.put({ resource: TOOLS, name: 'Team tools', createdAt: now });
  await dg.appliance.context.store.resources.put({ resource: CALENDAR, name: 'Team calendar', createdAt: now });
});
after(() => dg.stop());

test('the consent page lists the services the agent will reach, and My devices shows the agent with them after approval', async () => {
  const config = await deviceConfig(dg.issuer, 'pages-agent');
  const parameters = new URLSearchParams({ scope: 'offline_access tools', device_name: 'Build box' });
  parameters.append('resource', TOOLS);
  parameters.append('resource', CALENDAR);
  const authorization = await client.initiateDeviceAuthorization(config, parameters);

  const session = createPageSession(dg.issuer);
  const consent = await reachConsent(session, authorization.user_code, { username: 'demo', password: DEMO_PASSWORD });
  assert.match(consent.text, new RegExp(message(EN, 'consent.services')));
  assert.match(consent.text, /<strong>Team tools<\/strong> <span class="resource">https:\/\/tools\.example\.test\/mcp<\/span>/);
  assert.match(consent.text, /<strong>Team calendar<\/strong>/);
  const approved = await session.request('/device/consent', {
    form: new URLSearchParams([['csrf', csrfOf(consent.text)], ['request', requestIdOf(consent.text)], ['decision', 'approve'], ['scope', 'offline_access'], ['scope', 'tools']]),
  });
  assert.equal(approved.status, 303);

  const tokens = await client.pollDeviceAuthorizationGrant(config, authorization, { resource: TOOLS });
  assert.equal(decodeJwt(tokens.access_token).aud, TOOLS);

  const devices = await session.request('/device/devices');
  assert.match(devices.text, new RegExp(`<dt>${message(EN, 'devices.services')}</dt><dd>Team tools, Team calendar</dd>`));
  // A client that may exchange the person's token (RFC 8693) is shown as an agent.
  assert.match(devices.text, new RegExp(`Build box <span class="tag">${message(EN, 'devices.agent')}</span>`));
});

test('a device that names no resource shows no services section', async () => {
  const config = await deviceConfig(dg.issuer, 'pages-agent');
  const authorization = await client.initiateDeviceAuthorization(config, { scope: 'tools' });
  const consent = await reachConsent(createPageSession(dg.issuer), authorization.user_code, { username: 'demo', password: DEMO_PASSWORD });
  assert.doesNotMatch(consent.text, new RegExp(message(EN, 'consent.services')));
});
