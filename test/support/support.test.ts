// The launchers every suite builds on, each driven for real once: if one of these fails, the
// suites that use it cannot be trusted either way.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { describe, test } from 'node:test';
import mqtt from 'mqtt';
import pg from 'pg';
import { chromiumAvailable, formatAxeViolations, launchChromium, newPhoneContext, runAxe } from './chromium.ts';
import { mosquittoAvailable, startMosquitto } from './mosquitto.ts';
import { freePort } from './ports.ts';
import { createDatabase, postgresAvailable, startPostgres } from './postgres.ts';
import { requireRealPart, skipWithoutRealPart } from './require-real-part.ts';

/** Serves fixed HTML on 127.0.0.1:0; the page sets a strict CSP, as ours will. */
async function serveHtml(html: string): Promise<{ url: string; server: Server }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'",
    });
    response.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return { url: `http://127.0.0.1:${address.port}/`, server };
}

describe('freePort', () => {
  test('returns a loopback port that can then be bound', async () => {
    const port = await freePort();
    assert.ok(port > 0 && port < 65536);
    const server = createTcpServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('requireRealPart', () => {
  test('lets the test go on when the part is there', () => {
    assert.equal(requireRealPart('anything', true), true);
  });

  test('skips outside CI and fails in CI when the part is missing', (t) => {
    const saved = process.env.CI;
    t.after(() => {
      if (saved === undefined) delete process.env.CI;
      else process.env.CI = saved;
    });
    const skipped: string[] = [];
    process.env.CI = 'false';
    assert.equal(requireRealPart('warp drive', false, { skip: (message) => skipped.push(message ?? '') }), false);
    assert.match(skipped[0] ?? '', /warp drive is not installed/);
    assert.match(String(skipWithoutRealPart('warp drive', false)), /warp drive is not installed/);

    process.env.CI = 'true';
    assert.throws(() => requireRealPart('warp drive', false, { skip: () => {} }), /warp drive .*required in CI/);
    assert.throws(() => skipWithoutRealPart('warp drive', false), /required in CI/);
  });
});

describe('chromium', () => {
  test('renders a page served on loopback and reads its text', async (t) => {
    if (!requireRealPart('chromium', chromiumAvailable(), t)) return;
    const { url, server } = await serveHtml('<!doctype html><title>t</title><p id="greeting">Hello, device</p>');
    t.after(() => server.close());
    const browser = await launchChromium();
    t.after(() => browser.close());

    const context = await newPhoneContext(browser, { locale: 'de-DE' });
    const page = await context.newPage();
    await page.goto(url);
    assert.equal(await page.textContent('#greeting'), 'Hello, device');
    assert.deepEqual(page.viewportSize(), { width: 360, height: 740 });
    assert.equal(await page.evaluate(() => navigator.language), 'de-DE');
  });

  test('runAxe reports serious violations and passes a clean page, despite CSP and without JavaScript', async (t) => {
    if (!requireRealPart('chromium', chromiumAvailable(), t)) return;
    // An image without alt text and an unlabelled input: both serious or critical in axe.
    const bad = await serveHtml(
      '<!doctype html><html lang="en"><title>bad</title><main><img src="/x.png"><input type="text"></main></html>',
    );
    const good = await serveHtml(
      '<!doctype html><html lang="en"><title>good</title><main><h1>Enter code</h1>' +
        '<label for="code">Code</label><input id="code" type="text"></main></html>',
    );
    t.after(() => {
      bad.server.close();
      good.server.close();
    });
    const browser = await launchChromium();
    t.after(() => browser.close());

    for (const javaScriptEnabled of [true, false]) {
      const context = await newPhoneContext(browser, { javaScriptEnabled });
      const page = await context.newPage();
      await page.goto(bad.url);
      const ids = (await runAxe(page)).map((violation) => violation.id).sort();
      assert.deepEqual(ids, ['image-alt', 'label'], `javaScriptEnabled=${javaScriptEnabled}`);

      await page.goto(good.url);
      const violations = await runAxe(page);
      assert.deepEqual(violations, [], formatAxeViolations(violations));
      await context.close();
    }
  });
});

describe('mosquitto', { skip: skipWithoutRealPart('mosquitto', mosquittoAvailable()) }, () => {
  test('a client publishes and receives a message through the broker', async (t) => {
    const broker = await startMosquitto();
    t.after(() => broker.stop());
    assert.match(broker.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);

    const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, connectTimeout: 5000 });
    try {
      const received = new Promise<{ topic: string; payload: string }>((resolve) =>
        client.on('message', (topic, payload) => resolve({ topic, payload: payload.toString() })),
      );
      await client.subscribeAsync('devicegate/test', { qos: 1 });
      await client.publishAsync('devicegate/test', 'approved', { qos: 1 });
      assert.deepEqual(await received, { topic: 'devicegate/test', payload: 'approved' });
    } finally {
      await client.endAsync();
    }
  });

  test('takes a config with placeholders and extra files, and stop() removes its dir', async (t) => {
    const broker = await startMosquitto({
      configText: 'listener {{PORT}} 127.0.0.1\nallow_anonymous true\nacl_file {{DIR}}/acl\n',
      // Anonymous clients may only use topics under public/.
      extraFiles: { acl: 'topic readwrite public/#\n' },
    });
    t.after(() => broker.stop());
    assert.ok(existsSync(`${broker.dir}/acl`));

    const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, connectTimeout: 5000 });
    try {
      const topics: string[] = [];
      const firstDelivered = new Promise<void>((resolve) =>
        client.on('message', (topic) => {
          topics.push(topic);
          resolve();
        }),
      );
      await client.subscribeAsync('#', { qos: 1 });
      // The ACL drops the private message; the public one, sent after it, is the first to arrive.
      await client.publishAsync('private/b', 'secret', { qos: 1 });
      await client.publishAsync('public/a', 'hello', { qos: 1 });
      await firstDelivered;
      assert.deepEqual(topics, ['public/a']);
    } finally {
      await client.endAsync();
    }

    await broker.stop();
    assert.equal(existsSync(broker.dir), false);
  });

  test('a bad config fails fast with mosquitto\'s own error', async () => {
    await assert.rejects(startMosquitto({ configText: 'listener {{PORT}} 127.0.0.1\nno_such_option 1\n' }), /mosquitto exited[\s\S]*no_such_option/);
  });
});

describe('postgres', { skip: skipWithoutRealPart('postgresql', postgresAvailable()) }, () => {
  test('starts a server that answers select 1, and createDatabase isolates', async (t) => {
    const server = await startPostgres();
    t.after(() => server.stop());
    assert.match(server.url, /^postgres:\/\/devicegate@127\.0\.0\.1:\d+\/devicegate$/);

    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    const { rows } = await client.query<{ one: number }>('select 1 as one').finally(() => client.end());
    assert.deepEqual(rows, [{ one: 1 }]);

    const otherUrl = await createDatabase(server.url, 'test_isolated');
    assert.match(otherUrl, /\/test_isolated$/);
    const other = new pg.Client({ connectionString: otherUrl });
    await other.connect();
    const current = await other.query<{ name: string }>('select current_database() as name').finally(() => other.end());
    assert.equal(current.rows[0]?.name, 'test_isolated');
  });

  test('stop() shuts the server down and removes its dir', async () => {
    const server = await startPostgres();
    await server.stop();
    assert.equal(existsSync(server.dir), false);
    const client = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 2000 });
    await assert.rejects(client.connect());
  });
});
