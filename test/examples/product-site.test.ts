// The product-site example (examples/product-site): a person signed in to the product types the
// code their TV shows on the product's own page; the site approves through devicegate's approval
// API, the TV (openid-client) gets its tokens, and "Your devices" lists and signs it out. The test
// plays the person's browser with plain fetch against the product's site.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { startProductSite, type ProductSite } from '../../examples/product-site/server.ts';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { deviceConfig, startDeviceFlow } from '../verification-ui/support.ts';

const SECRET = 'product-site-secret-for-the-example';

describe('the product-site example', () => {
  let dg: TestAppliance;
  let site: ProductSite;
  before(async () => {
    dg = await startTestAppliance({ overrides: { pollInterval: 1 } });
    await dg.addClient({ clientId: 'product-site', name: 'Example product', grantTypes: ['client_credentials'], approvesDevicesOf: ['demo-tv'] }, SECRET);
    site = await startProductSite({
      devicegateUrl: dg.issuer,
      clientId: 'product-site',
      clientSecret: SECRET,
      person: { subject: 'customer-42', name: 'Ada Lovelace', email: 'ada@example.com' },
    });
  });
  after(async () => {
    await site?.stop();
    await dg?.stop();
  });

  const post = (path: string, form: Record<string, string>) =>
    fetch(`${site.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });

  test('the code typed on the product site signs the TV in; Your devices lists it and signs it out', async () => {
    const device = await deviceConfig(dg.issuer);
    const flow = await startDeviceFlow(device, { scope: 'openid profile offline_access', device_name: 'Living room TV' });

    const wrong = await post('/connect', { user_code: 'BCDF-GHJK', stay: 'on' });
    assert.equal(wrong.status, 400);
    assert.match(await wrong.text(), /not valid/);

    const connected = await post('/connect', { user_code: flow.authorization.user_code, stay: 'on' });
    assert.equal(connected.status, 200);
    assert.match(await connected.text(), /Living room TV is now signed in/);
    const outcome = await flow.outcome;
    assert.equal(outcome.kind, 'tokens');
    const tokens = (outcome as Extract<typeof outcome, { kind: 'tokens' }>).tokens;
    assert.ok(tokens.refresh_token);

    const listed = await (await fetch(`${site.url}/devices`)).text();
    assert.match(listed, /Living room TV/);
    const grant = /name="grant" value="([^"]+)"/.exec(listed)?.[1];
    assert.ok(grant);
    assert.equal((await post('/devices/sign-out', { grant })).status, 200);
    await assert.rejects(client.refreshTokenGrant(device, tokens.refresh_token), (error: { error?: string }) => error.error === 'invalid_grant');
    assert.match(await (await fetch(`${site.url}/devices`)).text(), /No devices/);
  });
});
