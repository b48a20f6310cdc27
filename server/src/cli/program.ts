import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { systemClock } from '../clock.ts';
import { ConfigError, loadConfig, type Config, type ConfigInput } from '../config.ts';
import { grantOfName, grantOfType, grants as registeredGrants } from '../grants/index.ts';
import { createKeyStore } from '../keys/keystore.ts';
import { openSealer, openStore } from '../appliance.ts';
import { hashPassword } from '../passwords.ts';
import { randomId } from '../secrets.ts';
import { defaultClient } from '../services/bootstrap.ts';
import { isConfidentialClient } from '../http/client-auth.ts';
import { normalizedOrigin } from '../http/cors.ts';
import { noPhishingControls, type Store } from '../store/types.ts';
import { UsernameTakenError } from '../store/types.ts';
import { auditFields } from '../services/audit.ts';
import { registerAuditCommands } from './audit.ts';
import { addPhishingOptions, describePhishingControls, phishingControlsOf, registerDeviceCommands } from './phishing.ts';
import { registerWebhookCommands } from './webhooks.ts';
import { webhookEvent, webhookEventTypes } from '../webhooks/events.ts';
import { CliError, readSecretFromStdin, table, type CliIo } from './output.ts';

const GRANT_NAMES = registeredGrants.map((grant) => grant.name).join(', ');

const positiveInt = (name: string) => (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError(`${name} must be a positive whole number`);
  return Number(value);
};
const csv = (value: string) => value.split(/[,\s]+/).filter(Boolean);

/** Members that only a private or symmetric JWK has: never part of a client's registered keys. */
const SECRET_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** A client's JWK Set for private_key_jwt (RFC 7523): public asymmetric keys only. */
function readClientJwks(file: string): { keys: Record<string, unknown>[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CliError(`cannot read a JWK Set from ${file}: ${(error as Error).message}`, 2);
  }
  const keys = (parsed as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new CliError(`${file} must be a JWK Set: {"keys": [...]}`, 2);
  for (const key of keys as Record<string, unknown>[]) {
    if (!key || typeof key !== 'object' || !['EC', 'RSA', 'OKP'].includes(key.kty as string)) {
      throw new CliError(`${file}: every key must be an EC, RSA or OKP public key`, 2);
    }
    if (SECRET_JWK_MEMBERS.some((member) => member in key)) throw new CliError(`${file} holds a private key; register the public key only`, 2);
  }
  return { keys: keys as Record<string, unknown>[] };
}

/** RFC 7591 §2 logo_uri: https (its origin joins the consent page's img-src alone) or a data:image URI. */
function clientLogoUri(value: string): string {
  if (/^data:image\/(png|svg\+xml|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+$/.test(value)) return value;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('--logo-uri must be a URL');
  }
  if (url.protocol !== 'https:') throw new InvalidArgumentError('--logo-uri must be an https:// URL or a data:image/...;base64 URI');
  return url.href;
}

function clientJwksUri(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('--jwks-uri must be a URL');
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new InvalidArgumentError('--jwks-uri must be an https:// URL (http only for localhost)');
  return url.href;
}
/**
 * A resource server's identifier (RFC 8707 §2): an absolute URI without a fragment; https, or
 * http on the loopback only, since it names where tokens are sent.
 */
function resourceIdentifier(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('a resource must be an absolute URL');
  }
  if (url.hash || value.includes('#')) throw new InvalidArgumentError('a resource has no fragment (RFC 8707 §2)');
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new InvalidArgumentError('a resource must be an https:// URL (http only for localhost)');
  // As written, not normalized: the token's aud is compared with the API's identifier exactly.
  return value;
}

/**
 * --allowed-origin, repeatable: a web origin exactly as a browser sends it (scheme://host[:port],
 * no path), docs/security.md CORS-ORIGIN.
 */
function collectOrigin(value: string, previous: string[] = []): string[] {
  const origin = normalizedOrigin(value);
  if (origin === null) throw new InvalidArgumentError(`--allowed-origin must be an origin such as https://tv.example.com (scheme://host[:port], no path), not "${value.slice(0, 100)}"`);
  return previous.includes(origin) ? previous : [...previous, origin];
}

const iso = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));

/** Options every command shares: where the configuration and the state are. */
function addStateOptions(command: Command): Command {
  return command
    .option('--config <file>', 'JSON configuration file (env DEVICEGATE_CONFIG)')
    .option('--data-dir <dir>', 'data directory (env DEVICEGATE_DATA_DIR)')
    .option('--database-url <url>', 'postgres:// URL instead of SQLite (env DEVICEGATE_DATABASE_URL)');
}

function configFrom(io: CliIo, options: Record<string, unknown>, overrides: ConfigInput = {}): Config {
  const fromFlags: ConfigInput = { ...overrides };
  if (options.dataDir) fromFlags.dataDir = options.dataDir as string;
  if (options.databaseUrl) fromFlags.databaseUrl = options.databaseUrl as string;
  try {
    return loadConfig({ file: (options.config as string | undefined) ?? io.env.DEVICEGATE_CONFIG, env: io.env, overrides: fromFlags });
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, 2);
    throw error;
  }
}

/** Runs an admin command against the store, closing it afterwards. */
async function withStore<T>(io: CliIo, options: Record<string, unknown>, run: (store: Store, config: Config) => Promise<T>): Promise<T> {
  const config = configFrom(io, options);
  // One command, then exit: no client cache and its listening connection (store/postgres/clients.ts).
  const store = await openStore(config, { cacheClients: false });
  try {
    return await run(store, config);
  } finally {
    await store.close();
  }
}

/**
 * `devicegate serve`: given by the composition above the server (the appliance package), which
 * knows the modules (pages, push channels) to run; the server's CLI knows only its settings.
 */
export type ServeCommand = (config: Config, io: CliIo) => Promise<void>;

/**
 * Parses argv and turns every failure into one readable line and an exit code: 0 for --help and
 * --version, 2 for usage (commander's own errors and CliError(…, 2)), else 1. It lives here, beside
 * the program, because `instanceof CommanderError` only holds for the commander copy that built it.
 */
export async function runProgram(program: Command, argv: readonly string[], io: Pick<CliIo, 'stderr'>): Promise<number> {
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError && error.exitCode === 0) return 0;
    const message = (error instanceof Error ? error.message : String(error)).replace(/^error: /, '');
    // Ids made before randomId stopped drawing a leading '-' may still start with one.
    const hint = /^unknown option '-[^-]/.test(message) ? " (an id that starts with '-' goes after --, e.g. grants revoke -- <id>)" : '';
    io.stderr(`${program.name()}: ${message.split('\n')[0]}${hint}\n`);
    // A bad setting found only once the appliance opens its state (a data directory that is a
    // file) is a configuration error like any other: 2.
    return error instanceof CliError ? error.exitCode : error instanceof CommanderError || error instanceof ConfigError ? 2 : 1;
  }
}

export function buildProgram(io: CliIo, commands: { serve: ServeCommand }): Command {
  const program = new Command('devicegate')
    .description('OAuth 2.0 Device Authorization Grant (RFC 8628) appliance with OpenID Connect and push')
    .version('0.1.0')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      // main.ts prints the one-line error itself.
      outputError: () => {},
    });

  addStateOptions(program.command('serve').description('run the appliance'))
    .option('--host <host>', 'address to listen on (env DEVICEGATE_HOST, default 127.0.0.1)')
    .option('--port <port>', 'port to listen on (env DEVICEGATE_PORT, default 8080)')
    .option('--issuer <url>', 'public base URL, the iss of tokens (env DEVICEGATE_ISSUER)')
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .option('--mqtt-port <port>', 'port of the embedded MQTT broker (env DEVICEGATE_MQTT_PORT, default 1883)')
    .option('--mqtt-url <url>', 'publish to this external MQTT broker instead of the embedded one (env DEVICEGATE_MQTT_URL)')
    .option('--no-mqtt', 'no MQTT push channel at all')
    .option('--no-websocket', 'no WebSocket push channel')
    .option('--no-demo', 'do not create the demo client and user on first start')
    .action(async (options: Record<string, unknown>) => {
      const overrides: ConfigInput = { push: {} };
      if (options.host) overrides.host = options.host as string;
      if (options.port) overrides.port = options.port as string as unknown as number;
      if (options.issuer) overrides.issuer = options.issuer as string;
      if (options.logLevel) overrides.logLevel = options.logLevel as Config['logLevel'];
      if (options.demo === false) overrides.demo = false;
      if (options.mqttPort) overrides.push!.mqttPort = options.mqttPort as string as unknown as number;
      if (options.mqttUrl) overrides.push!.mqttUrl = options.mqttUrl as string;
      if (options.mqtt === false) overrides.push!.mqttEmbedded = false;
      if (options.websocket === false) overrides.push!.websocket = false;
      await commands.serve(configFrom(io, options, overrides), io);
    });

  const clients = program.command('clients').description('manage OAuth clients');
  addPhishingOptions(addStateOptions(clients.command('add').description('register a client (confidential: secret read from stdin)')))
    .argument('<client_id>')
    .option('--name <name>', 'name shown to people on the consent page')
    .option('--confidential', 'client authenticates with a secret read from standard input')
    .option('--grant-types <list>', registeredGrants.map((grant) => grant.name).join(','), csv)
    .option('--scopes <list>', 'allowed scopes (comma or space separated)', csv)
    .option('--expires-in <seconds>', 'device code lifetime', positiveInt('--expires-in'))
    .option('--interval <seconds>', 'minimum polling interval', positiveInt('--interval'))
    .addOption(new Option('--token-format <format>', 'access token format').choices(['jwt', 'opaque']))
    .option('--audience <aud>', 'aud of access tokens (default: the issuer)')
    .option('--introspect', 'may call the introspection endpoint')
    .option('--dpop-required', 'refuse token requests without a DPoP proof (RFC 9449)')
    .option('--jwks-file <file>', 'JWK Set of the public keys the client signs private_key_jwt assertions with (RFC 7523)')
    .option('--jwks-uri <url>', 'URL of that JWK Set, fetched and cached (instead of --jwks-file)', clientJwksUri)
    .option('--logo-uri <url>', "the client's logo (https), shown on the consent page beside its name", clientLogoUri)
    .option('--allowed-origin <origin>', 'web origin a browser app of this client runs on (CORS); repeat for more', collectOrigin)
    .option('--approves-devices-of <list>', "client ids whose waiting devices this confidential client may approve from its own site (the approval API)", csv)
    .option('--replace', 'replace an existing client of that id')
    .action(async (clientId: string, options: Record<string, unknown>) => {
      if (!/^[\x21-\x7E]{1,128}$/.test(clientId)) throw new CliError('client_id must be 1-128 visible ASCII characters', 2);
      const grantTypes = ((options.grantTypes as string[] | undefined) ?? ['device_code', 'refresh_token']).map((name) => {
        const grant = grantOfName(name);
        if (!grant) throw new CliError(`unknown grant type "${name}" (use ${GRANT_NAMES})`, 2);
        return grant.type;
      });
      if (options.jwksFile && options.jwksUri) throw new CliError('use --jwks-file or --jwks-uri, not both', 2);
      const usesKeys = Boolean(options.jwksFile || options.jwksUri);
      if (usesKeys && options.confidential) throw new CliError('a client authenticates with a secret (--confidential) or with keys (--jwks-file/--jwks-uri), not both', 2);
      if (grantTypes.includes('client_credentials') && !options.confidential && !usesKeys) {
        throw new CliError('client_credentials needs a confidential client (--confidential, or --jwks-file/--jwks-uri for private_key_jwt)', 2);
      }
      // The approval API authenticates with HTTP Basic: a secret (docs/security.md API-CREDENTIAL-THEFT).
      if (options.approvesDevicesOf && !options.confidential) throw new CliError('--approves-devices-of needs a confidential client (--confidential)', 2);
      const jwks = options.jwksFile ? readClientJwks(options.jwksFile as string) : null;
      const phishing = phishingControlsOf(options, noPhishingControls);
      const secret = options.confidential ? await readSecretFromStdin(io.stdin, 'client secret') : null;
      if (secret !== null && secret.length < 16) throw new CliError('client secret must be at least 16 characters', 2);
      await withStore(io, options, async (store, config) => {
        if (!options.replace && (await store.clients.get(clientId))) throw new CliError(`client "${clientId}" already exists (use --replace)`, 1);
        const client = defaultClient(config, systemClock, {
          clientId,
          name: (options.name as string | undefined) ?? clientId,
          secretHash: secret === null ? null : await hashPassword(secret),
          grantTypes: [...new Set(grantTypes)],
          ...(options.scopes ? { scopes: options.scopes as string[] } : {}),
          ...(options.expiresIn ? { deviceCodeLifetime: options.expiresIn as number } : {}),
          ...(options.interval ? { pollInterval: options.interval as number } : {}),
          ...(options.tokenFormat ? { accessTokenFormat: options.tokenFormat as 'jwt' | 'opaque' } : {}),
          audience: (options.audience as string | undefined) ?? null,
          mayIntrospect: Boolean(options.introspect),
          dpopRequired: Boolean(options.dpopRequired),
          jwks,
          jwksUri: (options.jwksUri as string | undefined) ?? null,
          logoUri: (options.logoUri as string | undefined) ?? null,
          phishing,
          allowedOrigins: (options.allowedOrigin as string[] | undefined) ?? [],
          approvesDevicesOf: [...new Set((options.approvesDevicesOf as string[] | undefined) ?? [])],
        });
        await store.clients.put(client);
        io.stdout(`client ${clientId} saved (${usesKeys ? 'private_key_jwt' : secret === null ? 'public' : 'confidential'})\n`);
      });
    });
  // Changes what is given and keeps the rest (secret, keys, grant types): the settings an operator
  // changes on a live client, its cross-device phishing controls among them (docs/security.md
  // "Cross-device phishing controls"). Origins are replaced as a whole: the list given is the list kept.
  addPhishingOptions(addStateOptions(clients.command('update').description('change a client: name, scopes, interval, allowed web origins, phishing controls, approval permission')))
    .argument('<client_id>')
    .option('--name <name>', 'name shown to people on the consent page')
    .option('--scopes <list>', 'allowed scopes (comma or space separated)', csv)
    .option('--expires-in <seconds>', 'device code lifetime', positiveInt('--expires-in'))
    .option('--interval <seconds>', 'minimum polling interval', positiveInt('--interval'))
    .option('--allowed-origin <origin>', 'web origin a browser app of this client runs on (CORS); repeat for more; replaces the list', collectOrigin)
    .option('--no-allowed-origins', 'remove every allowed web origin: no browser may use the client')
    .option('--approves-devices-of <list>', 'client ids whose waiting devices it may approve from its own site (the approval API)', csv)
    .option('--no-approves-devices', 'take the approval permission away')
    .action(async (clientId: string, options: Record<string, unknown>) => {
      if (options.allowedOrigin && options.allowedOrigins === false) throw new CliError('use --allowed-origin or --no-allowed-origins, not both', 2);
      if (options.approvesDevicesOf && options.approvesDevices === false) throw new CliError('use --approves-devices-of or --no-approves-devices, not both', 2);
      const approvesDevicesOf = options.approvesDevices === false ? [] : (options.approvesDevicesOf as string[] | undefined);
      const flags = ['name', 'scopes', 'expiresIn', 'interval', 'allowedOrigin', 'allowedNetworks', 'sameNetworkRequired', 'registeredDevicesOnly', 'denyUserCodePrefixes', 'deviceNames'];
      if (approvesDevicesOf === undefined && options.allowedOrigins !== false && flags.every((flag) => options[flag] === undefined)) {
        throw new CliError('nothing to change (see devicegate clients update --help)', 2);
      }
      await withStore(io, options, async (store) => {
        const client = await store.clients.get(clientId);
        if (!client) throw new CliError(`no client "${clientId}"`, 1);
        // The approval API authenticates with HTTP Basic: a secret (docs/security.md API-CREDENTIAL-THEFT).
        if (approvesDevicesOf && approvesDevicesOf.length > 0 && client.secretHash === null) {
          throw new CliError('--approves-devices-of needs a confidential client (one with a secret)', 2);
        }
        const updated = {
          ...client,
          ...(options.name ? { name: options.name as string } : {}),
          ...(options.scopes ? { scopes: options.scopes as string[] } : {}),
          ...(options.expiresIn ? { deviceCodeLifetime: options.expiresIn as number } : {}),
          ...(options.interval ? { pollInterval: options.interval as number } : {}),
          ...(options.allowedOrigin ? { allowedOrigins: options.allowedOrigin as string[] } : {}),
          ...(options.allowedOrigins === false ? { allowedOrigins: [] } : {}),
          phishing: phishingControlsOf(options, client.phishing),
          ...(approvesDevicesOf ? { approvesDevicesOf: [...new Set(approvesDevicesOf)] } : {}),
        };
        await store.clients.put(updated);
        const approves = updated.approvesDevicesOf.length ? `approves devices of ${updated.approvesDevicesOf.join(', ')}` : 'approves no devices';
        io.stdout(`client ${clientId} updated (phishing controls: ${describePhishingControls(updated.phishing)}; ${approves})\n`);
      });
    });
  addStateOptions(clients.command('list').description('list clients'))
    .option('--json', 'JSON output')
    .action(async (options: Record<string, unknown>) =>
      withStore(io, options, async (store) => {
        const all = await store.clients.list();
        if (options.json) {
          io.stdout(`${JSON.stringify(all.map(({ secretHash, ...client }) => ({ ...client, confidential: isConfidentialClient({ secretHash, ...client }) })), null, 2)}\n`);
          return;
        }
        io.stdout(
          table(
            all.map((client) => ({
              client_id: client.clientId,
              name: client.name,
              type: client.secretHash ? 'confidential' : isConfidentialClient(client) ? 'private_key_jwt' : 'public',
              grants: client.grantTypes.map((type) => grantOfType(type)?.name ?? type).join(','),
              scopes: client.scopes.join(' '),
              expires_in: String(client.deviceCodeLifetime),
              interval: String(client.pollInterval),
              format: client.accessTokenFormat,
              introspect: client.mayIntrospect ? 'yes' : 'no',
              origins: client.allowedOrigins.join(' '),
              status: client.disabled ? 'blocked' : 'active',
              phishing_controls: describePhishingControls(client.phishing),
            })),
          ),
        );
      }),
    );
  addStateOptions(clients.command('remove').description('remove a client'))
    .argument('<client_id>')
    .action(async (clientId: string, options: Record<string, unknown>) =>
      withStore(io, options, async (store) => {
        if (!(await store.clients.remove(clientId))) throw new CliError(`no client "${clientId}"`, 1);
        io.stdout(`client ${clientId} removed\n`);
      }),
    );

  // RFC 10027 §6: an operator can stop a client at once. Blocked clients get invalid_client on
  // device authorization, token requests and refreshes from the next request on (the server reads
  // the client on every request); --revoke-grants also ends the tokens already out there.
  addStateOptions(clients.command('block').description('block a client at once: no device flows, token requests or refreshes'))
    .argument('<client_id>')
    .option('--revoke-grants', 'also revoke every grant (refresh and access tokens) the client holds')
    .action(async (clientId: string, options: Record<string, unknown>) =>
      withStore(io, options, async (store) => {
        const client = await store.clients.get(clientId);
        if (!client) throw new CliError(`no client "${clientId}"`, 1);
        await store.clients.put({ ...client, disabled: true });
        const now = systemClock.now();
        let revokedGrants = 0;
        if (options.revokeGrants) {
          for (const grant of await store.grants.list({ activeOnly: true, now })) {
            if (grant.clientId === clientId && (await store.grants.revoke(grant.id, now, 'client_blocked'))) revokedGrants++;
          }
        }
        const fields = auditFields({ clientId, revokedGrants, actor: 'cli' });
        await store.auditEvents.append({ at: now, event: 'client_blocked', fields });
        // A running appliance delivers it from the outbox (webhooks/dispatcher.ts).
        await store.webhooks.enqueue(webhookEvent(webhookEventTypes.client_blocked, fields, now));
        io.stdout(`client ${clientId} blocked${options.revokeGrants ? `; ${revokedGrants} grant(s) revoked` : ''}\n`);
      }),
    );
  addStateOptions(clients.command('unblock').description('allow a blocked client again'))
    .argument('<client_id>')
    .action(async (clientId: string, options: Record<string, unknown>) =>
      withStore(io, options, async (store) => {
        const client = await store.clients.get(clientId);
        if (!client) throw new CliError(`no client "${clientId}"`, 1);
        await store.clients.put({ ...client, disabled: false });
        await store.auditEvents.append({ at: systemClock.now(), event: 'client_unblocked', fields: auditFields({ clientId, actor: 'cli' }) });
        io.stdout(`client ${clientId} unblocked\n`);
      }),
    );

  // Resource servers (RFC 8707): the APIs a client may name with `resource`; a token's aud is the
  // one it asked for, so each API refuses tokens meant for another.
  const resources = program.command('resources').description('manage resource servers (APIs tokens may be asked for, RFC 8707)');
  addStateOptions(resources.command('add').description('register a resource server by its identifier, the aud of its tokens'))
    .argument('<resource>', 'absolute https URL, e.g. https://tools.example.com/mcp', resourceIdentifier)
    .option('--name <name>', 'name shown to people on the consent page and in My devices')
    .option('--replace', 'replace an existing resource of that identifier')
    .action(async (resource: string, options: Record<string, unknown>) =>
      withStore(io, options, async (store) => {
        const name = ((options.name as string | undefined) ?? new URL(resource).host).trim();
        if (name.length === 0 || name.length > 64 || /[\p{Cc}\p{Cf}]/u.test(name)) throw new CliError('--name must be 1-64 printable characters', 2);
        if (!options.replace && (await store.resources.get(resource))) throw new CliError(`resource "${resource}" already exists (use --replace)`, 1);
        await store.resources.put({ resource, name, createdAt: systemClock.now() });
        io.stdout(`resource ${resource} saved (${name})\n`);
      }),
    );
  addStateOptions(resources.command('list').description('list resource servers'))
    .option('--json', 'JSON output')
    .action(async (options: Record<string, unknown>) =>
      withStore(io, options, async (store) => {
        const all = await store.resources.list();
        if (options.json) {
          io.stdout(`${JSON.stringify(all, null, 2)}\n`);
          return;
        }
        io.stdout(table(all.map((entry) => ({ resource: entry.resource, name: entry.name, created: iso(entry.createdAt) }))));
      }),
    );
  addStateOptions(resources.command('remove').description('remove a resource server: no new token will name it'))
    .argument('<resource>')
    .action(async (resource: string, options: Record<string, unknown>) =>
      withStore(io, options, async (store) => {
        if (!(await store.resources.remove(resource))) throw new CliError(`no resource "${resource}"`, 1);
        io.stdout(`resource ${resource} removed\n`);
      }),
    );

  const users = program.command('users').description('manage local accounts');
  addStateOptions(users.command('add').description('add a user'))
    .argument('<username>')
    .requiredOption('--password-stdin', 'read the password from standard input')
    .option('--name <name>', 'display name')
    .option('--email <email>', 'email address')
    .action(async (username: string, options: Record<string, unknown>) => {
      if (!/^[\p{L}\p{N}._@-]{1,64}$/u.test(username)) throw new CliError('username must be 1-64 letters, digits or ._@-', 2);
      const password = await readSecretFromStdin(io.stdin, 'password');
      if (password.length < 8) throw new CliError('password must be at least 8 characters', 2);
      await withStore(io, options, async (store) => {
        try {
          await store.users.create({
            id: randomId(),
            username,
            passwordHash: await hashPassword(password),
            name: (options.name as string | undefined) ?? null,
            email: (options.email as string | undefined) ?? null,
            emailVerified: false,
            disabled: false,
            createdAt: systemClock.now(),
          });
        } catch (error) {
          if (error instanceof UsernameTakenError) throw new CliError(error.message, 1);
          throw error;
        }
        io.stdout(`user ${username} added\n`);
      });
    });
  addStateOptions(users.command('list').description('list users'))
    .option('--json', 'JSON output')
    .action(async (options: Record<string, unknown>) =>
      withStore(io, options, async (store) => {
        const all = await store.users.list();
        if (options.json) {
          io.stdout(`${JSON.stringify(all.map(({ passwordHash: _omit, ...user }) => user), null, 2)}\n`);
          return;
        }
        io.stdout(table(all.map((user) => ({ username: user.username, id: user.id, name: user.name ?? '', email: user.email ?? '', created: iso(user.createdAt) }))));
      }),
    );
  addStateOptions(users.command('passwd').description("set a user's password"))
    .argument('<username>')
    .requiredOption('--password-stdin', 'read the new password from standard input')
    .action(async (username: string, options: Record<string, unknown>) => {
      const password = await readSecretFromStdin(io.stdin, 'password');
      if (password.length < 8) throw new CliError('password must be at least 8 characters', 2);
      await withStore(io, options, async (store) => {
        const user = await store.users.getByUsername(username);
        if (!user) throw new CliError(`no user "${username}"`, 1);
        await store.users.setPassword(user.id, await hashPassword(password));
        // A new password is often a response to a leaked one: whoever signed in with the old one
        // is signed out of the pages now, not when the session would have ended.
        const ended = await store.sessions.removeByUser(user.id);
        io.stdout(`password of ${username} changed; ${ended} page session${ended === 1 ? '' : 's'} ended\n`);
      });
    });
  addStateOptions(users.command('remove').description('remove a user and revoke their grants'))
    .argument('<username>')
    .action(async (username: string, options: Record<string, unknown>) =>
      withStore(io, options, async (store) => {
        const user = await store.users.getByUsername(username);
        if (!user) throw new CliError(`no user "${username}"`, 1);
        const now = systemClock.now();
        for (const grant of await store.grants.listByUser(user.id)) await store.grants.revoke(grant.id, now, 'user_removed');
        await store.sessions.removeByUser(user.id);
        await store.users.remove(user.id);
        io.stdout(`user ${username} removed\n`);
      }),
    );

  const keys = program.command('keys').description('manage signing keys');
  const keyStoreFor = (store: Store, config: Config) =>
    createKeyStore({
      signingKeys: store.signingKeys,
      sealer: openSealer(config),
      clock: systemClock,
      alg: config.signingAlg,
      maxSignedLifetime: Math.max(config.accessTokenLifetime, config.idTokenLifetime),
    });
  const keyRows = (list: Awaited<ReturnType<Store['signingKeys']['list']>>) =>
    table(list.map((key) => ({ kid: key.kid, alg: key.alg, state: key.state, created: iso(key.createdAt), activated: iso(key.activatedAt), published_until: iso(key.retireAfter) })));
  addStateOptions(keys.command('rotate').description('promote the next key to signing; publish a new next key'))
    .action(async (options: Record<string, unknown>) =>
      withStore(io, options, async (store, config) => {
        const keyStore = keyStoreFor(store, config);
        await keyStore.ensureInitialized();
        io.stdout(keyRows(await keyStore.rotate()));
      }),
    );
  addStateOptions(keys.command('list').description('list signing keys'))
    .action(async (options: Record<string, unknown>) =>
      withStore(io, options, async (store) => {
        io.stdout(keyRows(await store.signingKeys.list()));
      }),
    );

  const grants = program.command('grants').description('inspect and revoke grants (token families)');
  addStateOptions(grants.command('list').description('list active grants'))
    .option('--all', 'include revoked and expired grants')
    .option('--user <username>', 'only this user')
    .option('--json', 'JSON output')
    .action(async (options: Record<string, unknown>) =>
      withStore(io, options, async (store) => {
        let list = await store.grants.list({ activeOnly: !options.all, now: systemClock.now() });
        if (options.user) {
          const user = await store.users.getByUsername(options.user as string);
          if (!user) throw new CliError(`no user "${options.user}"`, 1);
          list = list.filter((grant) => grant.userId === user.id);
        }
        if (options.json) {
          io.stdout(`${JSON.stringify(list, null, 2)}\n`);
          return;
        }
        io.stdout(
          table(
            list.map((grant) => ({
              id: grant.id,
              client: grant.clientId,
              user: grant.userId ?? '',
              device: [grant.deviceName, grant.deviceModel].filter(Boolean).join(' / '),
              scopes: grant.scopes.join(' '),
              created: iso(grant.createdAt),
              last_used: iso(grant.lastUsedAt),
              revoked: grant.revokedAt ? `${iso(grant.revokedAt)} (${grant.revokedReason})` : '',
            })),
          ),
        );
      }),
    );
  addStateOptions(grants.command('revoke').description('revoke a grant: its refresh and access tokens stop working at once'))
    .argument('<grant_id>')
    .action(async (grantId: string, options: Record<string, unknown>) =>
      withStore(io, options, async (store) => {
        const now = systemClock.now();
        if (!(await store.grants.revoke(grantId, now, 'revoked_by_admin'))) throw new CliError(`no active grant "${grantId}"`, 1);
        await store.auditEvents.append({ at: now, event: 'grant_revoked', fields: auditFields({ grantId, reason: 'revoked_by_admin', actor: 'cli' }) });
        io.stdout(`grant ${grantId} revoked\n`);
      }),
    );
  registerAuditCommands(program, io, { addStateOptions, withStore });
  registerDeviceCommands(program, io, addStateOptions, (cliIo, options, work) => withStore(cliIo, options, (store) => work(store)));
  registerWebhookCommands(program, io, { addStateOptions, withStore });
  return program;
}
