/**
 * Lost answers (docs/security.md REDEEM-RETRY, REFRESH-RETRY) through the real device client: a
 * proxy in front of the real appliance lets the token request through, waits for the whole
 * answer (so the appliance has committed), and then cuts the device's connection instead of
 * relaying it, as a Wi-Fi drop would. The device retries what it never heard back and stays
 * signed in: after a lost redemption answer and after a lost refresh answer. Then, at the HTTP
 * level, a client that writes its request and closes the connection at once: the redemption and
 * the rotation it started still count, and the retry is answered.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createSession, createTokenStore, type TokenStore } from '@devicegate/device-client';
import { hashSecret } from '../../server/src/secrets.ts';
import type { TestAppliance } from '../support/appliance.ts';
import { freePort } from '../support/ports.ts';
import { DEVICE_CODE_GRANT_TYPE } from '../server/http.ts';
import { DEVICE_CLIENT_ID, DEVICE_SCOPE, inBackground, startDeviceAppliance, until } from './support/e2e.ts';
import { tempDir } from './support/temp.ts';

/** The proxy: the device's only way to the appliance (the appliance's issuer is the proxy's URL). */
interface DroppingProxy {
  url: string;
  /** Cut the connection of the next successful answer to a token request of this grant type. */
  dropNext(grantType: string): void;
  /** Answers cut so far, by grant type. */
  dropped: string[];
  /** Token requests seen, by grant type, in order. */
  seen: string[];
  close(): Promise<void>;
}

async function startDroppingProxy(port: number, target: () => string): Promise<DroppingProxy> {
  let armed: string | null = null;
  const dropped: string[] = [];
  const seen: string[] = [];
  const server: Server = createServer(async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const grantType = request.url === '/oauth/token' ? new URLSearchParams(body.toString()).get('grant_type') : null;
    if (grantType) seen.push(grantType);
    const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => !['host', 'connection', 'content-length'].includes(name))) as Record<string, string>;
    const answer = await fetch(`${target()}${request.url}`, { method: request.method!, headers, ...(body.length ? { body } : {}), redirect: 'manual' });
    const text = Buffer.from(await answer.arrayBuffer());
    if (grantType && grantType === armed && answer.status === 200) {
      // The appliance has answered, so it has committed: the device never hears of it.
      armed = null;
      dropped.push(grantType);
      request.socket.destroy();
      return;
    }
    const relayed: Record<string, string> = {};
    answer.headers.forEach((value, name) => {
      if (!['content-encoding', 'transfer-encoding', 'connection', 'content-length'].includes(name)) relayed[name] = value;
    });
    response.writeHead(answer.status, relayed).end(text);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    dropNext(grantType) {
      armed = grantType;
    },
    dropped,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let dg: TestAppliance;
let proxy: DroppingProxy;
/** The appliance itself, bypassing the proxy. */
let direct = '';
before(async () => {
  const proxyPort = await freePort();
  dg = await startDeviceAppliance({ overrides: { issuer: `http://127.0.0.1:${proxyPort}` } });
  direct = `http://127.0.0.1:${dg.appliance.context.config.port}`;
  proxy = await startDroppingProxy(proxyPort, () => direct);
});
after(async () => {
  await proxy?.close();
  await dg?.stop();
});

const storeIn = (dir: string): TokenStore => createTokenStore({ dir: path.join(dir, 'state'), keyFile: path.join(dir, 'device.key'), env: {} });

/** The stored refresh token is the family's one live token, and the family is not revoked. */
async function assertSignedIn(store: TokenStore): Promise<void> {
  const record = await store.load('default');
  assert.ok(record?.tokens.refreshToken, 'a refresh token is stored');
  const live = await dg.appliance.context.store.refreshTokens.find(hashSecret(record.tokens.refreshToken));
  assert.ok(live, 'the appliance knows the stored refresh token');
  assert.equal(live.revokedAt, null, 'the stored refresh token is not revoked');
  assert.equal(live.rotatedAt, null, 'the stored refresh token is the newest of its family');
  assert.equal((await dg.appliance.context.store.grants.get(live.grantId))?.revokedAt, null, 'the family lives');
}

/** Makes the stored access token look expired, so the next getAccessToken refreshes. */
async function ageStoredTokens(store: TokenStore): Promise<void> {
  const record = await store.load('default');
  assert.ok(record);
  await store.save('default', { ...record, tokens: { ...record.tokens, expiresAt: Date.now() - 1000 }, savedAt: Date.now() - 3600_000 });
}

test('the answer to the redemption is lost: the device polls again, gets tokens of the same family, and is signed in', async (t) => {
  const store = storeIn(tempDir());
  const session = createSession({ store });
  const login = await session.login({ issuer: proxy.url, clientId: DEVICE_CLIENT_ID, scope: DEVICE_SCOPE, channel: 'poll', signal: t.signal });
  const waiting = inBackground(login.wait());
  proxy.dropNext(DEVICE_CODE_GRANT_TYPE);
  assert.equal(await dg.appliance.context.approval.approveUserCode(login.userCode, dg.demoUserId), true);
  const tokens = await waiting;
  assert.deepEqual(proxy.dropped, [DEVICE_CODE_GRANT_TYPE], 'one answer was cut');
  assert.ok(tokens.accessToken && tokens.refreshToken);
  assert.equal(tokens.tokenType, 'DPoP', 'the retry carried a proof of the same key');
  await assertSignedIn(store);
  assert.equal(await session.getAccessToken(), tokens.accessToken);
});

test('the answer to a refresh is lost: the device retries with the token it stored, gets a new successor, and is signed in', async (t) => {
  const store = storeIn(tempDir());
  const session = createSession({ store });
  const login = await session.login({ issuer: proxy.url, clientId: DEVICE_CLIENT_ID, scope: DEVICE_SCOPE, channel: 'poll', signal: t.signal });
  const waiting = inBackground(login.wait());
  await dg.appliance.context.approval.approveUserCode(login.userCode, dg.demoUserId);
  const first = await waiting;

  await ageStoredTokens(store);
  proxy.dropNext('refresh_token');
  const seenBefore = proxy.seen.filter((grantType) => grantType === 'refresh_token').length;
  const refreshed = await createSession({ store }).getAccessToken();
  assert.deepEqual(proxy.dropped.slice(-1), ['refresh_token'], 'the refresh answer was cut');
  // Sent again after the cut (a use_dpop_nonce answer, when the nonce moved on, adds one more).
  assert.ok(proxy.seen.filter((grantType) => grantType === 'refresh_token').length - seenBefore >= 2, 'the refresh was retried');
  assert.notEqual(refreshed, first.accessToken);
  await assertSignedIn(store);

  // And the family goes on: the next refresh works too.
  await ageStoredTokens(store);
  assert.ok(await createSession({ store }).getAccessToken());
  await assertSignedIn(store);
});

/** Writes one form POST to the appliance on a raw socket and closes it at once, reading nothing. */
function sendAndHangUp(form: Record<string, string>): void {
  const body = new URLSearchParams(form).toString();
  const socket = connect(dg.appliance.context.config.port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.end(
    `POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

const post = async (form: Record<string, string>) => {
  const response = await fetch(`${direct}/oauth/token`, { method: 'POST', body: new URLSearchParams(form) });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
};

test('a client that hangs up right after sending its redemption, then its refresh, gets tokens when it retries', async () => {
  const { store } = dg.appliance.context;
  const authorization = (await (await fetch(`${direct}/oauth/device_authorization`, { method: 'POST', body: new URLSearchParams({ client_id: DEVICE_CLIENT_ID, scope: DEVICE_SCOPE }) })).json()) as Record<string, string>;
  await dg.appliance.context.approval.approveUserCode(authorization.user_code!, dg.demoUserId);
  const redemption = { grant_type: DEVICE_CODE_GRANT_TYPE, client_id: DEVICE_CLIENT_ID, device_code: authorization.device_code! };
  sendAndHangUp(redemption);
  // The appliance finishes what it started: the code is redeemed although nobody heard of it.
  const deviceCodeHash = hashSecret(authorization.device_code!);
  await until(async () => (await store.deviceGrants.findByDeviceCodeHash(deviceCodeHash))?.status === 'redeemed', 30_000, 'the redemption to commit');
  const redeemed = await post(redemption);
  assert.equal(redeemed.status, 200, JSON.stringify(redeemed.body));

  const refresh = { grant_type: 'refresh_token', client_id: DEVICE_CLIENT_ID, refresh_token: redeemed.body.refresh_token! };
  sendAndHangUp(refresh);
  await until(async () => (await store.refreshTokens.find(hashSecret(refresh.refresh_token)))?.rotatedAt != null, 30_000, 'the rotation to commit');
  const refreshed = await post(refresh);
  assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
  const next = await post({ ...refresh, refresh_token: refreshed.body.refresh_token! });
  assert.equal(next.status, 200, 'the family lives');
});
