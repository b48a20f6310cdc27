// Pieces the scale-out tests share: a shared configuration for N appliance instances (one
// database, one master key, one issuer, each listening on its own loopback port), an instance run
// as a child process (`devicegate serve`, test/support/serve.ts) so a test can SIGKILL it, and
// the person's side of the verification pages over plain HTTP (cookies and CSRF, as in
// test/verification-ui).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ConfigInput } from '@devicegate/server';
import { postForm, type DeviceAuthorization, type HttpResult, DEVICE_CODE_GRANT_TYPE } from '../server/http.ts';
import { removeDir, type Daemon } from '../support/daemon.ts';
import { startServeDaemon } from '../support/serve.ts';
import { freePort } from '../support/ports.ts';
import { DEMO_PASSWORD, type TestAppliance } from '../support/appliance.ts';
import { createPageSession, csrfOf, reachConsent, requestIdOf, type PageSession } from '../verification-ui/support.ts';

/** 32 random bytes, base64url: what an operator puts in DEVICEGATE_MASTER_KEY on every instance. */
export function newMasterKey(): string {
  return randomBytes(32).toString('base64url');
}

/** An issuer on a port reserved up front, so instance A can listen where the shared issuer points. */
export async function sharedIssuer(): Promise<{ issuer: string; port: number }> {
  const port = await freePort();
  return { issuer: `http://127.0.0.1:${port}`, port };
}

/**
 * Starts instances at once. If any fails, the others are stopped before the error is thrown, so a
 * failed start fails the file instead of leaving servers that keep it running until its timeout.
 */
export async function startAll(starts: Array<Promise<TestAppliance>>): Promise<TestAppliance[]> {
  const results = await Promise.allSettled(starts);
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (!failed) return results.map((result) => (result as PromiseFulfilledResult<TestAppliance>).value);
  await Promise.all(results.map((result) => (result.status === 'fulfilled' ? result.value.stop() : undefined)));
  throw failed.reason;
}

/** Where a device or a person reaches one instance: its own listen URL, whatever the issuer says. */
export interface Instance {
  name: string;
  url: string;
}

export async function deviceAuthorizeAt(instance: Instance, scope = 'openid profile offline_access', clientId = 'demo-tv'): Promise<DeviceAuthorization & { push: PushObject }> {
  const result = await postForm(instance.url, '/oauth/device_authorization', { client_id: clientId, scope });
  assert.equal(result.status, 200, `device authorization on ${instance.name}: ${JSON.stringify(result.body)}`);
  return result.body;
}

export interface PushObject {
  websocket?: string;
  mqtt?: { url: string; topic: string; username?: string };
}

export function pollAt(instance: Instance, deviceCode: string, clientId = 'demo-tv'): Promise<HttpResult> {
  return postForm(instance.url, '/oauth/token', { grant_type: DEVICE_CODE_GRANT_TYPE, client_id: clientId, device_code: deviceCode });
}

/** A person's browser on one instance's pages; `moveTo` carries its cookies to another (one name behind the proxy). */
export function personAt(instance: Instance): PageSession & { moveTo(other: Instance): PageSession } {
  const session = createPageSession(instance.url);
  return {
    ...session,
    moveTo(other) {
      const moved = createPageSession(other.url);
      for (const [name, value] of session.jar) moved.jar.set(name, value);
      return moved;
    },
  };
}

/** Enters the code, signs in as `demo` and approves, through the real forms of the session's instance. */
export async function approveThroughPages(session: PageSession, userCode: string): Promise<void> {
  const consent = await reachConsent(session, userCode, { username: 'demo', password: DEMO_PASSWORD });
  await approveOnConsent(session, consent.text);
}

export async function approveOnConsent(session: PageSession, consentHtml: string): Promise<void> {
  const approved = await session.request('/device/consent', {
    form: { csrf: csrfOf(consentHtml), request: requestIdOf(consentHtml), decision: 'approve' },
  });
  assert.equal(approved.status, 303, `approval accepted (got ${approved.status}: ${approved.text.slice(0, 200)})`);
  assert.match(approved.location ?? '', /\/device\/done/);
}

export interface ChildInstance extends Instance {
  daemon: Daemon;
  /** Its own data directory (SQLite, master key file), removed by kill(). */
  dataDir: string;
  /** SIGKILL: no draining, no goodbye to the database or the broker. */
  kill(): Promise<void>;
}

/**
 * `devicegate serve` in a child process (test/support/serve.ts) on a data directory of its own,
 * with `config` as its JSON configuration file for what has no variable, such as limits.
 */
export async function startChildInstance(name: string, env: Record<string, string>, options: { config?: ConfigInput } = {}): Promise<ChildInstance> {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'devicegate-child-'));
  const configFile = path.join(dataDir, 'config.json');
  if (options.config) writeFileSync(configFile, JSON.stringify(options.config));
  const daemon = await startServeDaemon({
    name: `devicegate ${name}`,
    port,
    dataDir,
    env: { ...(options.config ? { DEVICEGATE_CONFIG: configFile } : {}), ...env },
    dir: dataDir,
  });
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    daemon,
    dataDir,
    async kill() {
      await daemon.stop('SIGKILL', 5000);
      removeDir(dataDir);
    },
  };
}

/** The environment of a child instance matching test overrides (only what the tests here set). */
export function environmentFor(overrides: ConfigInput): Record<string, string> {
  const env: Record<string, string> = {};
  const set = (name: string, value: unknown) => {
    if (value !== undefined) env[name] = String(value);
  };
  set('DEVICEGATE_DATABASE_URL', overrides.databaseUrl);
  set('DEVICEGATE_MASTER_KEY', overrides.masterKey);
  set('DEVICEGATE_ISSUER', overrides.issuer);
  set('DEVICEGATE_DEMO_PASSWORD', overrides.demoPassword);
  set('DEVICEGATE_BUS', overrides.push?.bus);
  set('DEVICEGATE_MQTT_URL', overrides.push?.mqttUrl);
  set('DEVICEGATE_MQTT_USERNAME', overrides.push?.mqttUsername);
  set('DEVICEGATE_MQTT_PASSWORD', overrides.push?.mqttPassword);
  set('DEVICEGATE_MQTT_PUBLIC_URL', overrides.push?.mqttPublicUrl);
  return env;
}
