import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  defaultClient,
  hashPassword,
  loadConfig,
  startAppliance,
  type Appliance,
  type ApplianceDependencies,
  type ClientRecord,
  type ConfigInput,
} from '@devicegate/server';
import { defaultModules } from '@devicegate/appliance';
import { freePort } from './ports.ts';

export const DEMO_PASSWORD = 'demo-password-for-tests';

export interface TestAppliance {
  appliance: Appliance;
  issuer: string;
  dataDir: string;
  /** The demo user's id (username `demo`, password DEMO_PASSWORD). */
  demoUserId: string;
  addClient(client: Partial<ClientRecord> & { clientId: string }, secret?: string): Promise<ClientRecord>;
  addUser(username: string, password: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The real appliance on 127.0.0.1 (free ports), SQLite in a fresh temp directory, the demo
 * client and user, and the default modules (pages, push). Logs are silent unless
 * DEVICEGATE_TEST_LOG_LEVEL is set.
 */
export async function startTestAppliance(
  options: { overrides?: ConfigInput; deps?: ApplianceDependencies; dataDir?: string; modules?: 'default' | 'none' } = {},
): Promise<TestAppliance> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'devicegate-test-'));
  const port = await freePort();
  const overrides: ConfigInput = {
    host: '127.0.0.1',
    port,
    dataDir,
    logLevel: (process.env.DEVICEGATE_TEST_LOG_LEVEL as ConfigInput['logLevel']) ?? 'silent',
    demoPassword: DEMO_PASSWORD,
    ...options.overrides,
    push: { mqttPort: await freePort(), ...options.overrides?.push },
  };
  const config = loadConfig({ overrides });
  const appliance = await startAppliance(config, {
    modules: options.modules === 'none' ? undefined : (context) => defaultModules(context),
    ...options.deps,
  });
  const { store, clock } = appliance.context;
  const demo = await store.users.getByUsername('demo');
  return {
    appliance,
    issuer: config.issuer,
    dataDir,
    demoUserId: demo?.id ?? '',
    async addClient(client, secret) {
      const record = defaultClient(config, clock, { ...client, secretHash: secret ? await hashPassword(secret) : null });
      await store.clients.put(record);
      return record;
    },
    async addUser(username, password) {
      const id = `user-${username}`;
      await store.users.create({
        id,
        username,
        passwordHash: await hashPassword(password),
        name: username,
        email: `${username}@example.com`,
        emailVerified: true,
        disabled: false,
        createdAt: clock.now(),
      });
      return id;
    },
    async stop() {
      await appliance.stop();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
