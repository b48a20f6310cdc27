import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { createMetricsModule, loadConfig } from '@devicegate/server';
import { startTestAppliance } from '../support/appliance.ts';
import { freePort } from '../support/ports.ts';
import { deviceAuthorize, pollToken, request, signInDevice } from '../server/http.ts';

const TOKEN = 'metrics-token-0123456789abcdef';

async function scrape(url: string, token = TOKEN): Promise<string> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
  assert.equal(response.status, 200);
  return response.text();
}

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('metrics are served on a listener of their own, not on the public one, and only with the token', async () => {
  const port = await freePort();
  const dg = await startTestAppliance({ overrides: { metrics: { enabled: true, port, token: TOKEN } } });
  try {
    assert.equal((await request(dg.issuer, '/metrics')).status, 404);
    const unauthorized = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(unauthorized.status, 401);
    const wrong = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: 'Bearer not-the-token-at-all' }, signal: AbortSignal.timeout(10_000) });
    assert.equal(wrong.status, 401);
    assert.match(await scrape(`http://127.0.0.1:${port}/metrics`), /devicegate_device_authorizations_total/);
  } finally {
    await dg.stop();
  }
});

test('on the public listener metrics need the token, and the configuration refuses the public listener without one', async () => {
  assert.throws(() => loadConfig({ overrides: { metrics: { enabled: true, onPublicListener: true } } }), /metrics.onPublicListener needs metrics.token/);
  const dg = await startTestAppliance({ overrides: { metrics: { enabled: true, onPublicListener: true, token: TOKEN } } });
  try {
    assert.equal((await request(dg.issuer, '/metrics')).status, 401);
    assert.match(await scrape(`${dg.issuer}/metrics`), /devicegate_http_request_duration_seconds/);
  } finally {
    await dg.stop();
  }
});

test('the metrics listener fails its start loudly when its port is taken', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const taken = (blocker.address() as { port: number }).port;
  const dg = await startTestAppliance({ overrides: { metrics: { enabled: true, port: await freePort() } } });
  try {
    const { context } = dg.appliance;
    const module = createMetricsModule({ ...context, config: { ...context.config, metrics: { ...context.config.metrics, port: taken } } });
    await assert.rejects(module.start!(dg.appliance.server), (error: Error) => {
      // One line like the HTTP and MQTT listeners' (listeners.ts): what, where, and the setting to change.
      assert.equal(error.name, 'ListenerError');
      assert.match(error.message, new RegExp(`^cannot open the metrics listener on 127\\.0\\.0\\.1:${taken}: the port is already in use.*metrics\\.port \\(DEVICEGATE_METRICS_PORT\\)`));
      return true;
    });
  } finally {
    blocker.close();
    await dg.stop();
  }
});

test('a device flow moves the counters per client and outcome, with route templates and no user or code in any label', async () => {
  const port = await freePort();
  const dg = await startTestAppliance({ overrides: { metrics: { enabled: true, port, token: TOKEN } } });
  try {
    const { authorization } = await signInDevice(dg);
    const pending = await deviceAuthorize(dg, { client_id: 'demo-tv' });
    await pollToken(dg, 'demo-tv', pending.device_code);
    await pollToken(dg, 'demo-tv', pending.device_code); // too soon: slow_down (RFC 8628 §3.5)
    const denied = await deviceAuthorize(dg, { client_id: 'demo-tv' });
    assert.ok(await dg.appliance.context.approval.denyUserCode(denied.user_code, dg.demoUserId));
    const text = await scrape(`http://127.0.0.1:${port}/metrics`);
    assert.equal(sample(text, 'devicegate_device_authorizations_total{client="demo-tv"}'), 3);
    assert.equal(sample(text, 'devicegate_device_grant_outcomes_total{client="demo-tv",outcome="approved"}'), 1);
    assert.equal(sample(text, 'devicegate_device_grant_outcomes_total{client="demo-tv",outcome="redeemed"}'), 1);
    assert.equal(sample(text, 'devicegate_device_grant_outcomes_total{client="demo-tv",outcome="denied"}'), 1);
    assert.equal(sample(text, 'devicegate_slow_down_total{client="demo-tv"}'), 1);
    assert.equal(sample(text, 'devicegate_device_authorization_to_approval_seconds_count{client="demo-tv"}'), 1);
    assert.equal(sample(text, 'devicegate_device_authorization_to_redemption_seconds_count{client="demo-tv"}'), 1);
    assert.equal(sample(text, 'devicegate_user_code_guess_alarm'), 0);
    assert.equal(sample(text, 'devicegate_http_request_duration_seconds_count{route="/oauth/token",method="POST",status="400"}'), 2);
    assert.ok((sample(text, 'devicegate_store_operation_duration_seconds_count{operation="deviceGrants.recordPoll"}') ?? 0) >= 3);
    for (const secret of [authorization.device_code, authorization.user_code, pending.device_code, pending.user_code, dg.demoUserId]) {
      assert.ok(!text.includes(secret), 'a code or a user id in the metrics');
    }
  } finally {
    await dg.stop();
  }
});

test('every series the example Grafana dashboard queries is one the appliance exports', async () => {
  const { readFileSync } = await import('node:fs');
  const dashboard = readFileSync(new URL('../../deploy/grafana/devicegate-dashboard.json', import.meta.url), 'utf8');
  const queried = new Set([...dashboard.matchAll(/devicegate_[a-z_]+/g)].map(([name]) => name.replace(/_(bucket|count|sum)$/, '')));
  const port = await freePort();
  const dg = await startTestAppliance({ overrides: { metrics: { enabled: true, port, token: TOKEN } } });
  try {
    const text = await scrape(`http://127.0.0.1:${port}/metrics`);
    const exported = new Set([...text.matchAll(/^# TYPE (\S+)/gm)].map(([, name]) => name));
    assert.ok(queried.size >= 10);
    for (const name of queried) assert.ok(exported.has(name), `the dashboard queries ${name}, which is not exported`);
  } finally {
    await dg.stop();
  }
});
