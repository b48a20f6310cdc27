import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { tracingRequested } from '@devicegate/server';
import { approveThroughPages, newMasterKey, personAt, pollAt, startAll, deviceAuthorizeAt } from '../scale-out/support.ts';
import { openWebSocket } from '../push/push-client.ts';
import { deviceAuthorize, pollToken } from '../server/http.ts';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { postgresAvailable, startPostgres, type Postgres } from '../support/postgres.ts';
import { requireRealPart } from '../support/require-real-part.ts';
import { until } from '../support/until.ts';

// The OpenTelemetry SDK with its in-memory exporter, registered for this process as `serve`
// registers the configured one: the appliance itself only uses the API.
const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();
after(() => provider.shutdown());

const spansOf = (traceId: string) => exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
const named = (spans: ReadableSpan[], name: string) => spans.filter((span) => span.name === name);
const parentIdOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

test('tracing is requested by the standard OTEL_* variables only', () => {
  assert.equal(tracingRequested({}), false);
  assert.equal(tracingRequested({ OTEL_TRACES_EXPORTER: 'otlp' }), true);
  assert.equal(tracingRequested({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }), false);
  assert.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }), true);
  assert.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' }), false);
});

test('one trace links device authorization, approval and redemption, with store, signing, bus and push spans under them', async () => {
  exporter.reset();
  const dg = await startTestAppliance({ deps: { tracing: true } });
  try {
    const authorization = await deviceAuthorize(dg, { client_id: 'demo-tv', scope: 'openid profile offline_access' });
    const device = await openWebSocket((authorization as unknown as { push: { websocket: string } }).push.websocket, { deviceCode: authorization.device_code });
    await device.next('pending');
    const person = personAt({ name: 'only', url: dg.appliance.url });
    await approveThroughPages(person, authorization.user_code);
    await device.next('approved');
    assert.equal((await pollToken(dg, 'demo-tv', authorization.device_code)).status, 200);

    const finished = exporter.getFinishedSpans();
    const [root] = named(finished, 'POST /oauth/device_authorization');
    assert.ok(root, 'a span for the device authorization request');
    assert.equal(root.kind, SpanKind.SERVER);
    assert.equal(root.attributes['oauth.grant_type'], 'urn:ietf:params:oauth:grant-type:device_code');
    assert.equal(root.attributes['http.response.status_code'], 200);
    const trace = spansOf(root.spanContext().traceId);
    const [approve] = named(trace, 'device grant approve');
    const [redeem] = named(trace, 'device grant redeem');
    assert.ok(approve && redeem, `approval and redemption in the sign-in's trace: ${trace.map((span) => span.name).join(', ')}`);
    assert.equal(parentIdOf(approve), root.spanContext().spanId);
    assert.equal(parentIdOf(redeem), root.spanContext().spanId);
    // Each is linked to the request it happened in (the page's POST, the device's token request),
    // which is a trace of its own.
    for (const span of [approve, redeem]) {
      assert.equal(span.links.length, 1);
      assert.notEqual(span.links[0]!.context.traceId, root.spanContext().traceId);
    }
    const [tokenRequest] = named(finished, 'POST /oauth/token').filter((span) => span.spanContext().spanId === redeem.links[0]!.context.spanId);
    if (tokenRequest) {
      assert.equal(tokenRequest.attributes['oauth.grant_type'], 'urn:ietf:params:oauth:grant-type:device_code');
      assert.equal(tokenRequest.attributes['devicegate.outcome'], 'success');
    }

    const under = (parent: ReadableSpan) => trace.filter((span) => parentIdOf(span) === parent.spanContext().spanId).map((span) => span.name);
    assert.ok(under(root).includes('store deviceGrants.create'), under(root).join(', '));
    assert.ok(under(approve).includes('store deviceGrants.decide'), under(approve).join(', '));
    assert.ok(under(approve).includes('bus publish outcome'));
    assert.ok(under(redeem).some((name) => name.startsWith('store ')), under(redeem).join(', '));
    assert.ok(under(redeem).includes('sign JWT'));
    const [publish] = named(trace, 'bus publish outcome');
    const [push] = named(trace, 'push deliver websocket');
    assert.equal(parentIdOf(push!), publish!.spanContext().spanId, 'the push is delivered under the publish');

    // Polls before approval are their own traces, each answered with its outcome.
    const pending = await deviceAuthorize(dg, { client_id: 'demo-tv' });
    assert.equal((await pollToken(dg, 'demo-tv', pending.device_code)).status, 400);
    await until(() => named(exporter.getFinishedSpans(), 'POST /oauth/token').some((span) => span.attributes['devicegate.outcome'] === 'authorization_pending'), 15_000, 'the pending poll’s span');
  } finally {
    await dg.stop();
  }
});

describe('a sign-in across two instances on PostgreSQL', () => {
  let postgres: Postgres | undefined;
  let a: TestAppliance;
  let b: TestAppliance;
  before(async () => {
    if (!postgresAvailable()) return;
    postgres = await startPostgres();
    const shared = { databaseUrl: postgres.url, masterKey: newMasterKey(), push: { bus: 'postgres' as const } };
    [a, b] = (await startAll([startTestAppliance({ overrides: shared, deps: { tracing: true } }), startTestAppliance({ overrides: shared, deps: { tracing: true } })])) as [TestAppliance, TestAppliance];
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await postgres?.stop();
  });

  test('is one trace: authorized on A, approved on B, pushed by A through the bus, redeemed on B', async (t) => {
    if (!requireRealPart('postgresql', postgresAvailable(), t)) return;
    exporter.reset();
    const A = { name: 'A', url: a.appliance.url };
    const B = { name: 'B', url: b.appliance.url };
    const authorization = await deviceAuthorizeAt(A);
    const device = await openWebSocket(authorization.push.websocket!, { deviceCode: authorization.device_code });
    await device.next('pending');
    await approveThroughPages(personAt(B), authorization.user_code);
    await device.next('approved');
    assert.equal((await pollAt(B, authorization.device_code)).status, 200);

    const [root] = named(exporter.getFinishedSpans(), 'POST /oauth/device_authorization');
    assert.ok(root);
    await until(() => named(spansOf(root.spanContext().traceId), 'push deliver websocket').length === 1, 10_000, 'the push span');
    const names = spansOf(root.spanContext().traceId).map((span) => span.name);
    for (const name of ['device grant approve', 'bus publish outcome', 'push deliver websocket', 'device grant redeem']) {
      assert.ok(names.includes(name), `${name} in the trace: ${names.join(', ')}`);
    }
  });
});
