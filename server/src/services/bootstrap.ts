import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { KeyStore } from '../keys/keystore.ts';
import { hashPassword } from '../passwords.ts';
import { randomId } from '../secrets.ts';
import { noPhishingControls, type ClientRecord, type Store } from '../store/types.ts';
import { DEVICE_CODE_GRANT_TYPE } from '../grants/index.ts';

export const DEMO_CLIENT_ID = 'demo-tv';
export const DEMO_USERNAME = 'demo';

export function defaultClient(config: Config, clock: Clock, overrides: Partial<ClientRecord> & { clientId: string }): ClientRecord {
  return {
    name: overrides.clientId,
    secretHash: null,
    grantTypes: [DEVICE_CODE_GRANT_TYPE, 'refresh_token'],
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    deviceCodeLifetime: config.deviceCodeLifetime,
    pollInterval: config.pollInterval,
    accessTokenFormat: 'jwt',
    mayIntrospect: false,
    audience: null,
    disabled: false,
    dpopRequired: false,
    jwks: null,
    jwksUri: null,
    phishing: noPhishingControls,
    logoUri: null,
    registration: 'operator',
    allowedOrigins: [],
    approvesDevicesOf: [],
    createdAt: clock.now(),
    ...overrides,
  };
}

/**
 * First start with an empty store: signing keys always; with `demo` on, a public client
 * `demo-tv` and a user `demo` whose password is returned once, so `serve` can print it.
 */
export interface Bootstrapped {
  /** The demo user's password, when this start created it at random: `serve` prints it once. */
  demoPassword?: string;
  /** Whether the demo user exists (created now or at an earlier start), for the reset hint. */
  demoUser: boolean;
  /**
   * Removes what this start created for the demo (client and user), for a start that fails before
   * it printed the password: the next start then creates them again and prints a new one, instead
   * of leaving a user whose password nobody ever saw.
   */
  undoDemo?: () => Promise<void>;
}

export async function bootstrap(deps: { store: Store; keys: KeyStore; config: Config; clock: Clock }): Promise<Bootstrapped> {
  // Instances started at once on an empty shared database would each make keys (the last set
  // written wins, the others would sign with unpublished keys) and each create `demo`.
  const exclusive = deps.store.exclusive?.bind(deps.store) ?? (<T>(_name: string, work: () => Promise<T>) => work());
  return exclusive('bootstrap', () => bootstrapOnce(deps));
}

async function bootstrapOnce(deps: { store: Store; keys: KeyStore; config: Config; clock: Clock }): Promise<Bootstrapped> {
  const { store, keys, config, clock } = deps;
  await keys.ensureInitialized();
  const demoUser = async () => (await store.users.getByUsername(DEMO_USERNAME)) !== null;
  if (!config.demo) return { demoUser: await demoUser() };
  const [clients, users] = await Promise.all([store.clients.list(), store.users.list()]);
  if (clients.length > 0 || users.length > 0) return { demoUser: await demoUser() };
  await store.clients.put(defaultClient(config, clock, { clientId: DEMO_CLIENT_ID, name: 'Demo TV' }));
  const password = config.demoPassword ?? randomBytes(12).toString('base64url');
  const userId = randomId();
  await store.users.create({
    id: userId,
    username: DEMO_USERNAME,
    passwordHash: await hashPassword(password),
    name: 'Demo User',
    email: 'demo@example.com',
    emailVerified: true,
    disabled: false,
    createdAt: clock.now(),
  });
  const undoDemo = async () => {
    await store.users.remove(userId);
    await store.clients.remove(DEMO_CLIENT_ID);
  };
  return config.demoPassword ? { demoUser: true, undoDemo } : { demoPassword: password, demoUser: true, undoDemo };
}
