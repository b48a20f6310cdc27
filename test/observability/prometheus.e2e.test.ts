import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestAppliance } from '../support/appliance.ts';
import { freePort } from '../support/ports.ts';
import { prometheusAvailable, startPrometheus } from '../support/prometheus.ts';
import { requireRealPart } from '../support/require-real-part.ts';
import { until } from '../support/until.ts';
import { signInDevice } from '../server/http.ts';

test('a real Prometheus scrapes the appliance and answers a query for the counters a device flow moved', async (t) => {
  if (!requireRealPart('prometheus', prometheusAvailable(), t)) return;
  const metricsPort = await freePort();
  const token = 'scrape-token-0123456789abcdef';
  const dg = await startTestAppliance({ overrides: { metrics: { enabled: true, port: metricsPort, token } } });
  const prometheus = await startPrometheus({ targets: [`127.0.0.1:${metricsPort}`], bearerToken: token });
  try {
    await signInDevice(dg);
    const authorized = 'devicegate_device_authorizations_total{client="demo-tv"}';
    await until(async () => (await prometheus.query(authorized)).some((series) => series.value >= 1), 60_000, 'the scraped device authorization counter');
    const redeemed = await prometheus.query('devicegate_device_grant_outcomes_total{client="demo-tv",outcome="redeemed"}');
    assert.equal(redeemed[0]?.value, 1);
    // Labelled by route template and status, never by URL.
    const requests = await prometheus.query('devicegate_http_request_duration_seconds_count{route="/oauth/device_authorization"}');
    assert.deepEqual(
      requests.map((series) => [series.metric.method, series.metric.status, series.value]),
      [['POST', '200', 1]],
    );
    const up = await prometheus.query('up{job="devicegate"}');
    assert.equal(up[0]?.value, 1);
  } finally {
    await prometheus.stop();
    await dg.stop();
  }
});
