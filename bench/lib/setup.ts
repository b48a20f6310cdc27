// What the bench puts in place before it measures: appliances with their abuse limits raised
// (one loopback address plays a whole fleet; limits are configuration, never switched off),
// the bench's clients and person, pending device codes, refresh tokens approved through the
// real pages.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPerson, type PersonAccount } from '@devicegate/simulators';
import type { ApplianceSpec } from './appliance-process.ts';
import { freePort } from '../../test/support/ports.ts';
import { benchDir, startChild, type Child } from './processes.ts';

export const PERSON: PersonAccount = { username: 'bench-person', password: 'bench-person-password' };
export const RESOURCE_SERVER = { clientId: 'bench-rs', secret: 'bench-resource-server-secret' };
/** Polls every second (the minimum) so pending polls are a real load; codes live 30 minutes. */
export const POLL_CLIENT = 'bench-tv';
/** Push devices poll once a minute beside their push channel, so polling does not drown the push. */
export const PUSH_CLIENT = 'bench-push';

const roomy = (points: number, duration = 60) => ({ points, duration });

export interface ApplianceHandle {
  child: Child<{ url: string; mqttUrl: string }>;
  issuer: string;
  stop(): Promise<void>;
}

/** `metrics`: Prometheus metrics on (a listener of their own); `tracing`: OpenTelemetry spans, through the SDK to an exporter that drops them. */
export async function startBenchAppliance(options: { databaseUrl?: string; dataDir?: string; metrics?: boolean; tracing?: boolean } = {}): Promise<ApplianceHandle> {
  const port = await freePort();
  const mqttPort = await freePort();
  const spec: ApplianceSpec = {
    overrides: {
      host: '127.0.0.1',
      port,
      dataDir: options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'devicegate-bench-')),
      ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
      demo: false,
      ...(options.metrics ? { metrics: { enabled: true, port: await freePort() } } : {}),
      // The default (info) unless an experiment asks otherwise.
      ...(process.env.BENCH_LOG_LEVEL ? { logLevel: process.env.BENCH_LOG_LEVEL as 'info' } : {}),
      push: { mqttPort, maxConnections: 30_000, maxConnectionsPerAddress: 30_000 },
      limits: {
        deviceAuthorizationPerClientAndAddress: roomy(100_000_000),
        tokenPerAddress: roomy(100_000_000),
        introspectionPerClient: roomy(100_000_000),
        userinfoPerAddress: roomy(100_000_000),
        metadataPerAddress: roomy(100_000_000),
        revocationPerClientAndAddress: roomy(100_000_000),
        userCodeEntryPerAddress: roomy(1_000_000),
        userCodeEntryPerSession: roomy(1_000_000),
        signInPerAddress: roomy(1_000_000, 300),
      },
    },
    clients: [
      { clientId: POLL_CLIENT, name: 'Bench TV', scopes: ['openid', 'offline_access'], pollInterval: 1, deviceCodeLifetime: 1800 },
      { clientId: PUSH_CLIENT, name: 'Bench push device', scopes: ['openid', 'offline_access'], pollInterval: 60, deviceCodeLifetime: 1800 },
      { clientId: RESOURCE_SERVER.clientId, name: 'Bench API', secret: RESOURCE_SERVER.secret, grantTypes: ['client_credentials'], scopes: ['openid'], mayIntrospect: true },
    ],
    users: [PERSON],
  };
  const child = await startChild<{ url: string; mqttUrl: string }>(path.join(benchDir, 'lib', 'appliance-process.ts'), {
    env: { BENCH_APPLIANCE: JSON.stringify(spec), ...(options.tracing ? { BENCH_TRACING: '1' } : {}) },
    execArgv: ['--expose-gc'],
  });
  return { child, issuer: child.ready.url, stop: () => child.stop() };
}

export interface PendingCode {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
}

/**
 * A request sent again (at most 3 times) when the connection failed before an answer: on a
 * saturated machine a kept-alive socket can be closed by the server's idle timeout just as the
 * next request is written ("other side closed"). A device authorization sent twice only leaves
 * an unused code; an HTTP answer, whatever its status, is never retried.
 */
async function retried(send: () => Promise<Response>): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (attempt >= 3 || !(error instanceof TypeError)) throw error;
    }
  }
}

/** `count` device authorizations, `concurrency` at a time (bounded in count and time); `endpoint` for the peer's. */
export async function createPendingCodes(issuer: string, clientId: string, count: number, concurrency = 32, endpoint = `${issuer}/oauth/device_authorization`): Promise<PendingCode[]> {
  const codes: PendingCode[] = [];
  let next = 0;
  const deadline = Date.now() + 180_000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count && Date.now() < deadline) {
        next++;
        const response = await retried(() =>
          fetch(endpoint, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ client_id: clientId, scope: 'openid offline_access' }).toString(),
          }),
        );
        const body = (await response.json()) as Record<string, string>;
        if (response.status !== 200) throw new Error(`device authorization answered ${response.status} ${body.error}`);
        codes.push({ deviceCode: body.device_code!, userCode: body.user_code!, verificationUri: body.verification_uri! });
      }
    }),
  );
  if (codes.length < count) throw new Error(`only ${codes.length} of ${count} device codes within the time bound`);
  return codes;
}

/** Approves each code through the real pages (one person, signed in once) and redeems it. */
export async function tokensFor(issuer: string, clientId: string, codes: PendingCode[]): Promise<Array<Record<string, string>>> {
  const person = createPerson(PERSON, { fetch: (input, init) => fetch(input, init), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) });
  const tokens: Array<Record<string, string>> = [];
  for (const code of codes) {
    await person.decide({ userCode: code.userCode, verificationUri: code.verificationUri, decision: 'approve', viaQr: false, readMs: 0 });
    const response = await fetch(`${issuer}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: code.deviceCode, client_id: clientId }).toString(),
    });
    const body = (await response.json()) as Record<string, string>;
    if (response.status !== 200) throw new Error(`redeeming an approved code answered ${response.status} ${body.error}`);
    tokens.push(body);
  }
  return tokens;
}
