// A request written on a kept-alive connection the server has just closed as idle fails before any
// answer (undici: SocketError "other side closed", or ECONNRESET). It happens when the client's
// event loop is late: undici drops an idle socket 1 s before the server's advertised
// `Keep-Alive: timeout=` (its keepAliveTimeoutThreshold), and a client starved for more than that
// picks the socket from its pool after the server closed it. The server below makes that moment
// deterministic: it answers the first request of every connection and, on a later request of the
// same connection, closes the connection without answering, exactly what the client meets then.
// No timing is involved: the client reuses the connection because the server left it open.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { DeviceClientError, discover, generateDpopKey } from '@devicegate/device-client';
import { createDpopNonces } from '../../device-client/src/core/dpop.ts';
import { requestDeviceToken } from '../../device-client/src/core/tokens.ts';
import { createBrowser } from '../../simulators/src/people/browser.ts';

type Policy = 'answer' | 'end' | 'reset';

interface SeenRequest {
  connection: number;
  /** 1 for the first request on its connection. */
  onConnection: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * A minimal HTTP/1.1 server on a raw socket, so what it does with a kept-alive connection is
 * exactly what the test says. `policy` decides per request: answer it (keep-alive, JSON), end the
 * connection (FIN, no answer) or reset it (RST, no answer).
 */
function staleConnectionServer(policy: (request: SeenRequest) => Policy) {
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const connection = ++connections;
    let onConnection = 0;
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const [requestLine = '', ...lines] = buffer.subarray(0, end).toString('latin1').split('\r\n');
        const headers = Object.fromEntries(
          lines.map((line) => [line.slice(0, line.indexOf(':')).trim().toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
        );
        const length = Number(headers['content-length'] ?? 0);
        if (buffer.length < end + 4 + length) return;
        const body = buffer.subarray(end + 4, end + 4 + length).toString('utf8');
        buffer = buffer.subarray(end + 4 + length);
        const [method = '', path = ''] = requestLine.split(' ');
        const request = { connection, onConnection: ++onConnection, method, path, headers, body };
        seen.push(request);
        const what = policy(request);
        if (what === 'end') return void socket.end();
        if (what === 'reset') return void socket.resetAndDestroy();
        const answer = JSON.stringify(answerFor(request, origin()));
        socket.write(
          `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(answer)}\r\n` +
            `connection: keep-alive\r\nkeep-alive: timeout=60\r\n\r\n${answer}`,
        );
      }
    });
  });
  const origin = () => {
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('not listening');
    return `http://127.0.0.1:${address.port}`;
  };
  return {
    seen,
    origin,
    listen: () => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function answerFor(request: SeenRequest, origin: string): Record<string, unknown> {
  if (request.path === '/.well-known/openid-configuration') {
    return {
      issuer: origin,
      token_endpoint: `${origin}/token`,
      device_authorization_endpoint: `${origin}/device_authorization`,
      grant_types_supported: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
    };
  }
  if (request.path === '/token') return { access_token: 'an-access-token', token_type: 'DPoP', expires_in: 300 };
  return { ok: true };
}

/**
 * fetch gives a connection back to its pool on a tick after the answer's body was read; until then
 * a new request would open a second connection. This waits for that (an event-loop turn, no timer)
 * so the next request reuses the kept-alive connection, as a device's next poll does.
 */
const connectionBackInPool = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Closes a connection's second and later requests unanswered, as an idle close crossing a reuse does. */
const closesReused = (how: 'end' | 'reset') => (request: SeenRequest): Policy => (request.onConnection === 1 ? 'answer' : how);

/** A server of its own per test: its own origin, so its own connections in fetch's pool. */
async function withServer<T>(policy: (request: SeenRequest) => Policy, run: (server: ReturnType<typeof staleConnectionServer>) => Promise<T>): Promise<T> {
  const server = staleConnectionServer(policy);
  await server.listen();
  try {
    return await run(server);
  } finally {
    await server.close();
  }
}

for (const how of ['end', 'reset'] as const) {
  test(`a device request that meets a kept-alive connection closed by the server (${how === 'end' ? 'other side closed' : 'ECONNRESET'}) is sent once more on a new connection`, async () => {
    await withServer(closesReused(how), async (server) => {
      const first = await discover(server.origin(), { fetch: globalThis.fetch });
      assert.equal(first.token_endpoint, `${server.origin()}/token`);
      await connectionBackInPool();
      // The same pool, the same kept-alive connection: the server closes it on this request.
      const second = await discover(server.origin(), { fetch: globalThis.fetch });
      assert.equal(second.token_endpoint, `${server.origin()}/token`);
      assert.deepEqual(
        server.seen.map((request) => [request.connection, request.onConnection]),
        [
          [1, 1],
          [1, 2],
          [2, 1],
        ],
        'the second request was sent again, once, on a new connection',
      );
    });
  });
}

test('a token request sent again on a new connection carries a new DPoP proof, not the first one again', async () => {
  await withServer(closesReused('end'), async (server) => {
    const key = await generateDpopKey();
    const context = {
      tokenEndpoint: `${server.origin()}/token`,
      client: { clientId: 'a-device' },
      fetch: globalThis.fetch,
      dpop: { key, nonces: createDpopNonces(), now: () => Date.now() },
    };
    assert.equal((await requestDeviceToken(context, 'device-code-1')).ok, true);
    await connectionBackInPool();
    const outcome = await requestDeviceToken(context, 'device-code-1');
    assert.equal(outcome.ok, true);
    const proofs = server.seen.map((request) => request.headers.dpop);
    assert.equal(proofs.length, 3);
    assert.ok(proofs.every((proof) => typeof proof === 'string' && proof.split('.').length === 3));
    assert.notEqual(proofs[2], proofs[1], 'the resent request has a proof of its own (RFC 9449 §11.1: a jti is used once)');
    assert.equal(server.seen[2]!.body, server.seen[1]!.body, 'the same form was sent again');
  });
});

test('a second failure of the same kind is reported, not retried again', async () => {
  // Every request after a connection's first is closed unanswered, and the retry's new
  // connection is closed too: the device sees one readable network error after two attempts.
  let attempts = 0;
  await withServer((request) => (request.connection === 1 && request.onConnection === 1 ? 'answer' : 'end'), async (server) => {
    const fetch: typeof globalThis.fetch = (input, init) => {
      attempts++;
      return globalThis.fetch(input, init);
    };
    await discover(server.origin(), { fetch });
    await connectionBackInPool();
    attempts = 0;
    await assert.rejects(discover(server.origin(), { fetch }), (error: unknown) => {
      assert.ok(error instanceof DeviceClientError);
      assert.equal(error.code, 'network');
      assert.match(error.message, /^cannot reach http:\/\/127\.0\.0\.1:\d+: UND_ERR_SOCKET$/);
      return true;
    });
    assert.equal(attempts, 2);
  });
});

test('a refused connection is not sent again at once: the appliance is down, the caller backs off', async () => {
  const server = staleConnectionServer(() => 'answer');
  await server.listen();
  const origin = server.origin();
  await server.close();
  let attempts = 0;
  const fetch: typeof globalThis.fetch = (input, init) => {
    attempts++;
    return globalThis.fetch(input, init);
  };
  await assert.rejects(discover(origin, { fetch }), /cannot reach .*ECONNREFUSED/);
  assert.equal(attempts, 1);
});

test("a simulated person's form post that meets a closed kept-alive connection is sent once more, as a browser does", async () => {
  await withServer(closesReused('reset'), async (server) => {
    const browser = createBrowser((input, init) => globalThis.fetch(input, init));
    assert.equal((await browser.get(`${server.origin()}/device`)).status, 200);
    await connectionBackInPool();
    const page = await browser.post(`${server.origin()}/device`, new URLSearchParams({ user_code: 'BCDF-GHJK', csrf: 'c' }));
    assert.equal(page.status, 200);
    assert.deepEqual(
      server.seen.map((request) => [request.connection, request.method, request.body]),
      [
        [1, 'GET', ''],
        [1, 'POST', 'user_code=BCDF-GHJK&csrf=c'],
        [2, 'POST', 'user_code=BCDF-GHJK&csrf=c'],
      ],
    );
  });
});
