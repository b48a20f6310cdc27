import { readFileSync } from 'node:fs';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { Option, type Command } from 'commander';
import { systemClock } from '../clock.ts';
import { randomId } from '../secrets.ts';
import { MAX_USER_CODE_DENY_PREFIXES, normalizeUserCodePrefix, parseNetwork } from '../services/phishing-controls.ts';
import type { PhishingControls, Store } from '../store/types.ts';
import { CliError, table, type CliIo } from './output.ts';

/**
 * The CLI side of the per-client cross-device phishing controls (RFC 10027 §6;
 * docs/security.md "Cross-device phishing controls"): their `clients add/update` flags, and
 * `devices enroll|list|remove` for "registered devices only".
 */

const csv = (value: string) => value.split(/[,\s]+/).filter(Boolean);
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

/** Adds the phishing-control flags to `clients add` and `clients update`. */
export function addPhishingOptions(command: Command): Command {
  return command
    .option('--allowed-networks <list>', 'CIDR blocks device authorization is allowed from (comma separated; "none" clears)', csv)
    .option('--same-network-required', 'refuse approval from a browser on another network than the device')
    .option('--no-same-network-required', 'allow approval from any network (the consent page still warns)')
    .option('--registered-devices-only', 'give codes only to devices holding a key enrolled with `devicegate devices enroll`')
    .option('--no-registered-devices-only', 'give codes to any device of the client')
    .option('--deny-user-code-prefixes <list>', 'user codes never start with these, e.g. MSFT,HLPD ("none" clears)', csv)
    .addOption(new Option('--device-names <mode>', 'a device name that reads like instructions is neutralised on the consent page, or refused').choices(['neutralise', 'refuse']));
}

/** The controls the flags ask for, over `current` (a new client: all off). */
export function phishingControlsOf(options: Record<string, unknown>, current: PhishingControls): PhishingControls {
  const next: PhishingControls = { ...current };
  const networks = options.allowedNetworks as string[] | undefined;
  if (networks) {
    next.allowedNetworks = networks.length === 1 && networks[0] === 'none' ? [] : networks;
    for (const network of next.allowedNetworks) {
      if (!parseNetwork(network)) throw new CliError(`--allowed-networks: "${network}" is not a CIDR block such as 192.0.2.0/24 or 2001:db8::/48`, 2);
    }
  }
  const prefixes = options.denyUserCodePrefixes as string[] | undefined;
  if (prefixes) {
    next.userCodeDenyPrefixes = prefixes.length === 1 && prefixes[0] === 'none' ? [] : prefixes.map((prefix) => {
      const normalized = normalizeUserCodePrefix(prefix);
      if (!normalized) throw new CliError(`--deny-user-code-prefixes: "${prefix}" must be 2-7 letters of BCDFGHJKLMNPQRSTVWXZ`, 2);
      return normalized;
    });
    if (next.userCodeDenyPrefixes.length > MAX_USER_CODE_DENY_PREFIXES) throw new CliError(`--deny-user-code-prefixes: at most ${MAX_USER_CODE_DENY_PREFIXES}`, 2);
  }
  // A --x / --no-x pair with --x defined first has no default: undefined unless one was typed.
  if (typeof options.sameNetworkRequired === 'boolean') next.sameNetworkRequired = options.sameNetworkRequired;
  if (typeof options.registeredDevicesOnly === 'boolean') next.registeredDevicesOnly = options.registeredDevicesOnly;
  if (options.deviceNames) next.deviceNameFilter = options.deviceNames as PhishingControls['deviceNameFilter'];
  return next;
}

/** The controls as one line for `clients list`. */
export function describePhishingControls(controls: PhishingControls): string {
  const parts: string[] = [];
  if (controls.allowedNetworks.length) parts.push(`networks=${controls.allowedNetworks.join(',')}`);
  if (controls.sameNetworkRequired) parts.push('same-network');
  if (controls.registeredDevicesOnly) parts.push('registered-only');
  if (controls.userCodeDenyPrefixes.length) parts.push(`deny-prefixes=${controls.userCodeDenyPrefixes.join(',')}`);
  if (controls.deviceNameFilter === 'refuse') parts.push('refuse-instruction-names');
  return parts.join(' ') || '-';
}

/** A device's DPoP public key from a JWK file (a JWK, or a JWK Set of one key), as its RFC 7638 thumbprint. */
async function thumbprintOfFile(file: string): Promise<string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CliError(`cannot read a JWK from ${file}: ${(error as Error).message}`, 2);
  }
  const keys = (parsed as { keys?: unknown }).keys;
  const jwk = (Array.isArray(keys) ? (keys.length === 1 ? keys[0] : null) : parsed) as JWK | null;
  if (!jwk || typeof jwk !== 'object' || !['EC', 'RSA', 'OKP'].includes(jwk.kty as string)) {
    throw new CliError(`${file} must be one EC, RSA or OKP public key (a JWK, or a JWK Set of one key)`, 2);
  }
  if (PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) throw new CliError(`${file} holds a private key; enroll the public key only`, 2);
  try {
    return await calculateJwkThumbprint(jwk, 'sha256');
  } catch (error) {
    throw new CliError(`${file}: ${(error as Error).message}`, 2);
  }
}

/** `devicegate devices enroll|list|remove`: the device keys of "registered devices only" clients. */
export function registerDeviceCommands(
  program: Command,
  io: CliIo,
  addStateOptions: (command: Command) => Command,
  withStore: (io: CliIo, options: Record<string, unknown>, work: (store: Store) => Promise<void>) => Promise<void>,
): void {
  const devices = program.command('devices').description('enroll the keys of registered devices (clients with --registered-devices-only)');
  addStateOptions(devices.command('enroll').description("enroll a device's DPoP public key for a client"))
    .argument('<client_id>')
    .option('--jwk-file <file>', "the device's public key (JWK)")
    .option('--jkt <thumbprint>', 'or its RFC 7638 SHA-256 thumbprint (base64url)')
    .option('--name <name>', 'what the device is, for the operator (e.g. "Kiosk 3, lobby")')
    .action(async (clientId: string, options: Record<string, unknown>) => {
      if (Boolean(options.jwkFile) === Boolean(options.jkt)) throw new CliError('give the key with --jwk-file or --jkt (one of them)', 2);
      const jkt = options.jkt ? String(options.jkt) : await thumbprintOfFile(options.jwkFile as string);
      if (!/^[A-Za-z0-9_-]{43}$/.test(jkt)) throw new CliError('--jkt must be a SHA-256 thumbprint: 43 base64url characters', 2);
      const name = options.name === undefined ? null : String(options.name).slice(0, 128);
      await withStore(io, options, async (store) => {
        if (!(await store.clients.get(clientId))) throw new CliError(`no client "${clientId}"`, 1);
        const id = randomId();
        if (!(await store.registeredDevices.enroll({ id, clientId, jkt, name, createdAt: systemClock.now() }))) {
          throw new CliError(`that key is already enrolled for ${clientId}`, 1);
        }
        io.stdout(`device ${id} enrolled for ${clientId} (key ${jkt})\n`);
      });
    });
  addStateOptions(devices.command('list').description('list enrolled devices'))
    .option('--client <client_id>', 'only this client')
    .option('--json', 'JSON output')
    .action(async (options: Record<string, unknown>) =>
      withStore(io, options, async (store) => {
        const all = await store.registeredDevices.list(options.client as string | undefined);
        if (options.json) return io.stdout(`${JSON.stringify(all, null, 2)}\n`);
        io.stdout(
          table(all.map((device) => ({ id: device.id, client_id: device.clientId, name: device.name ?? '', jkt: device.jkt, enrolled: new Date(device.createdAt).toISOString() }))),
        );
      }),
    );
  addStateOptions(devices.command('remove').description('remove an enrolled device: it gets no new codes'))
    .argument('<id>')
    .action(async (id: string, options: Record<string, unknown>) =>
      withStore(io, options, async (store) => {
        if (!(await store.registeredDevices.remove(id))) throw new CliError(`no enrolled device "${id}"`, 1);
        io.stdout(`device ${id} removed\n`);
      }),
    );
}
