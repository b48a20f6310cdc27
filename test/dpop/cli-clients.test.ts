// `devicegate clients add` registers private_key_jwt clients (--jwks-file, --jwks-uri) and
// DPoP-only clients (--dpop-required), run as the real command an operator types.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createSqliteStore } from '@devicegate/server';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startTestAppliance } from '../support/appliance.ts';

const dataDir = mkdtempSync(path.join(tmpdir(), 'devicegate-cli-dpop-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The real `devicegate` command, bounded to 30 s, without the caller's DEVICEGATE_* settings. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('DEVICEGATE_')));
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(root, 'appliance/bin/devicegate.js'), ...args, '--data-dir', dataDir], { cwd: root, env, timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

async function storedClient(clientId: string) {
  const store = createSqliteStore({ filename: path.join(dataDir, 'devicegate.sqlite') });
  try {
    return await store.clients.get(clientId);
  } finally {
    await store.close();
  }
}

test('clients add --jwks-file registers a private_key_jwt client that then authenticates with its key', async () => {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwksFile = path.join(dataDir, 'm2m.jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1' }] }));
  const result = await cli(['clients', 'add', 'm2m', '--jwks-file', jwksFile, '--grant-types', 'client_credentials', '--scopes', 'api']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /saved \(private_key_jwt\)/);

  const dg = await startTestAppliance({ dataDir, modules: 'none' });
  try {
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('m2m')
      .setSubject('m2m')
      .setAudience(dg.issuer)
      .setExpirationTime('1m')
      .setJti(randomUUID())
      .sign(privateKey);
    const response = await fetch(`${dg.issuer}/oauth/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      }),
    });
    assert.equal(response.status, 200);
  } finally {
    await dg.stop();
  }
});

test('clients add --jwks-file refuses a file holding a private key', async () => {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwksFile = path.join(dataDir, 'private.jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [await exportJWK(privateKey)] }));
  const result = await cli(['clients', 'add', 'leaky', '--jwks-file', jwksFile, '--grant-types', 'client_credentials']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /private key/);
  assert.equal(await storedClient('leaky'), null);
});

test('clients add --jwks-uri stores the URL and refuses plain http to another host', async () => {
  const ok = await cli(['clients', 'add', 'remote', '--jwks-uri', 'https://keys.example.com/jwks.json', '--grant-types', 'client_credentials']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((await storedClient('remote'))?.jwksUri, 'https://keys.example.com/jwks.json');
  const insecure = await cli(['clients', 'add', 'remote2', '--jwks-uri', 'http://keys.example.com/jwks.json']);
  assert.notEqual(insecure.code, 0);
});

test('clients add --dpop-required marks the client', async () => {
  const result = await cli(['clients', 'add', 'tv-dpop', '--dpop-required']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal((await storedClient('tv-dpop'))?.dpopRequired, true);
});
