import { Command, CommanderError, Option } from 'commander';
import { normalizeIssuer } from '../core/discovery.ts';
import { DeviceClientError, oneLine } from '../core/errors.ts';
import { discoverProtectedResource } from '../resource-discovery.ts';
import { systemRuntime } from '../core/runtime.ts';
import type { ChannelPreference } from '../login.ts';
import { createSession, DEFAULT_PROFILE, type Session } from '../session.ts';
import { watchSignOut } from '../sign-out.ts';
import { createTokenStore } from '../store/token-store.ts';
import { EXIT, exitCodeFor } from './exit-codes.ts';
import { createOutput, type CliIo, type Output } from './io.ts';
import { runLogin } from './login-command.ts';
import { printStatus } from './status-command.ts';

const VERSION = '0.1.0';

/** Options every command takes. Secrets never come from flags (argv is visible in `ps`). */
interface CommonOptions {
  profile?: string;
  stateDir?: string;
  keyFile?: string;
  json?: boolean;
}

function addCommonOptions(command: Command): Command {
  return command
    .option('--profile <name>', 'profile to use (env DEVICEGATE_PROFILE)', undefined)
    .option('--state-dir <dir>', 'token store directory (env DEVICEGATE_DEVICE_STATE_DIR)')
    .option('--key-file <file>', 'store key file (env DEVICEGATE_DEVICE_KEY_FILE; or a key in DEVICEGATE_DEVICE_KEY)')
    .option('--json', 'one JSON object per line on stdout, for firmware');
}

function sessionFor(options: CommonOptions, io: CliIo): Session {
  const store = createTokenStore({
    env: io.env,
    ...(options.stateDir ? { dir: options.stateDir } : {}),
    ...(options.keyFile ? { keyFile: options.keyFile } : {}),
  });
  return createSession({
    profile: options.profile ?? io.env.DEVICEGATE_PROFILE ?? DEFAULT_PROFILE,
    store,
    ...(io.signal ? { signal: io.signal } : {}),
  });
}

/**
 * Runs `devicegate-device` with `argv` (without node and script) and resolves to the exit code.
 * Every failure ends as one readable line on stderr and a documented exit code.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let exitCode: number = EXIT.ok;
  let output: Output = createOutput(io, argv.includes('--json'));
  const program = new Command('devicegate-device')
    .description('Sign a device in to a devicegate appliance (OAuth 2.0 device authorization grant, RFC 8628)')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // Usage errors are printed once, as one line, below; commander's own copy is dropped.
      outputError: () => undefined,
    });

  addCommonOptions(
    program
      .command('login')
      .description('sign in: show a code and QR code, wait for approval, store the tokens')
      .option('--issuer <url>', 'appliance issuer URL (env DEVICEGATE_ISSUER)')
      .option('--resource <url>', "sign in for this API: its RFC 9728 metadata names the issuer (then --issuer is optional) (env DEVICEGATE_RESOURCE)")
      .option('--client-id <id>', 'OAuth client_id (env DEVICEGATE_CLIENT_ID; a secret only from DEVICEGATE_CLIENT_SECRET)')
      .option('--scope <scope>', 'scopes to ask for (env DEVICEGATE_SCOPE)')
      .option('--device-name <name>', 'shown to the person approving (env DEVICEGATE_DEVICE_NAME)')
      .option('--device-model <model>', 'shown to the person approving (env DEVICEGATE_DEVICE_MODEL)')
      .addOption(
        new Option('--channel <channel>', 'where to wait for the outcome besides polling')
          .choices(['auto', 'websocket', 'mqtt', 'poll'])
          .default('auto'),
      )
      .option('--qr-png <file>', 'also write the QR code as a PNG file (for a screen)')
      .option('--no-qr', 'do not print the terminal QR code')
      .option('--no-dpop', 'do not bind the tokens to a DPoP key (RFC 9449), for servers that mishandle it'),
  ).action(async (options: CommonOptions & Record<string, string | boolean | undefined>) => {
    output = createOutput(io, Boolean(options.json));
    let issuer = (options.issuer as string | undefined) ?? io.env.DEVICEGATE_ISSUER;
    const clientId = (options.clientId as string | undefined) ?? io.env.DEVICEGATE_CLIENT_ID;
    const resourceUrl = (options.resource as string | undefined) ?? io.env.DEVICEGATE_RESOURCE;
    let resource: string | undefined;
    if (resourceUrl) {
      // From the API's URL alone (RFC 9728): the API names its resource identifier and issuer.
      const found = await discoverProtectedResource(resourceUrl, { fetch: systemRuntime.fetch });
      if (issuer && normalizeIssuer(issuer) !== normalizeIssuer(found.issuer)) {
        throw new DeviceClientError('usage', `${resourceUrl} is protected by ${found.issuer}, not ${issuer}`);
      }
      issuer ??= found.issuer;
      resource = found.resource;
    }
    if (!issuer) throw new DeviceClientError('usage', 'login needs --issuer URL or --resource URL (or DEVICEGATE_ISSUER)');
    if (!clientId) throw new DeviceClientError('usage', 'login needs --client-id ID (or DEVICEGATE_CLIENT_ID)');
    const scope = (options.scope as string | undefined) ?? io.env.DEVICEGATE_SCOPE;
    const deviceName = (options.deviceName as string | undefined) ?? io.env.DEVICEGATE_DEVICE_NAME;
    const deviceModel = (options.deviceModel as string | undefined) ?? io.env.DEVICEGATE_DEVICE_MODEL;
    const clientSecret = io.env.DEVICEGATE_CLIENT_SECRET;
    exitCode = await runLogin({
      io,
      output,
      session: sessionFor(options, io),
      login: {
        issuer,
        clientId,
        ...(clientSecret ? { clientSecret } : {}),
        ...(scope ? { scope } : {}),
        ...(deviceName ? { deviceName } : {}),
        ...(deviceModel ? { deviceModel } : {}),
        ...(resource ? { resource } : {}),
        channel: options.channel as ChannelPreference,
        ...(options.dpop === false ? { dpop: false } : {}),
      },
      ...(options.qrPng ? { qrPng: options.qrPng as string } : {}),
      terminalQr: options.qr !== false,
    });
  });

  addCommonOptions(
    program.command('token').description('print a valid access token (refreshing it if needed), and nothing else'),
  ).action(async (options: CommonOptions) => {
    output = createOutput(io, false); // the token is the output; errors stay one line on stderr
    const accessToken = await sessionFor(options, io).getAccessToken();
    io.stdout.write(`${accessToken}\n`);
  });

  addCommonOptions(
    program
      .command('proof')
      .description('print a DPoP proof (RFC 9449) for one API request with the access token that `token` prints')
      .requiredOption('--url <url>', 'the URL of the request (query and fragment are left out of the proof)')
      .option('--method <method>', 'the HTTP method of the request', 'GET')
      .option('--nonce <nonce>', "the API's DPoP-Nonce, when it asks for one"),
  ).action(async (options: CommonOptions & { url: string; method: string; nonce?: string }) => {
    output = createOutput(io, false); // the proof is the output; errors stay one line on stderr
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new DeviceClientError('usage', `--url ${options.url} is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new DeviceClientError('usage', '--url must be an https:// URL');
    if (!/^[A-Za-z]+$/.test(options.method)) throw new DeviceClientError('usage', `--method ${options.method} is not an HTTP method`);
    const proof = await sessionFor(options, io).createDpopProof({
      method: options.method,
      url,
      ...(options.nonce !== undefined ? { nonce: options.nonce } : {}),
    });
    io.stdout.write(`${proof}\n`);
  });

  addCommonOptions(
    program.command('status').description('show whether this profile is signed in (never shows a token)'),
  ).action(async (options: CommonOptions) => {
    output = createOutput(io, Boolean(options.json));
    const status = await sessionFor(options, io).status();
    printStatus(io, status, Boolean(options.json), Date.now());
    if (!status.loggedIn) exitCode = EXIT.notLoggedIn;
  });

  addCommonOptions(
    program
      .command('watch')
      .description('stay connected to push for this sign-in; drop the tokens the moment the appliance revokes it, then exit 7')
      .addOption(new Option('--channel <channel>', 'push channel to keep').choices(['websocket', 'mqtt'])),
  ).action(async (options: CommonOptions & { channel?: 'websocket' | 'mqtt' }) => {
    output = createOutput(io, Boolean(options.json));
    const session = sessionFor(options, io);
    const result = await watchSignOut(session, {
      ...(options.channel ? { channel: options.channel } : {}),
      ...(io.signal ? { signal: io.signal } : {}),
      onWatching(channel) {
        output.info(`watching for sign-out on ${channel}`);
        output.event({ event: 'watching', channel });
      },
    });
    if (result.signedOut) {
      const reason = result.reason ?? 'revoked';
      output.info(`signed out: the appliance ${reason === 'revoked' ? 'revoked' : 'refused'} this sign-in; tokens of profile "${session.profile}" dropped`);
      output.event({ event: 'signed_out', profile: session.profile, reason });
      exitCode = EXIT.notLoggedIn;
    } else if (!io.signal?.aborted) {
      throw new DeviceClientError('not_logged_in', `not logged in (profile "${session.profile}"); run login first`);
    } else exitCode = EXIT.interrupted;
  });

  addCommonOptions(
    program
      .command('logout')
      .description('revoke the refresh token at the appliance (RFC 7009) and delete the local profile')
      .option('--force', 'delete the local profile even when the appliance cannot be reached'),
  ).action(async (options: CommonOptions & { force?: boolean }) => {
    output = createOutput(io, Boolean(options.json));
    const session = sessionFor(options, io);
    const result = await session.logout({ force: Boolean(options.force) });
    if (!result.wasLoggedIn) output.info(`profile "${session.profile}" was not logged in`);
    else if (result.revocationError) {
      output.info(`deleted profile "${session.profile}"; revocation failed: ${oneLine(result.revocationError.message)}`);
    } else {
      output.info(`logged out: ${result.revoked ? 'refresh token revoked at the appliance, ' : ''}profile "${session.profile}" deleted`);
    }
  });

  try {
    if (argv.length === 0) {
      output.error('usage', 'missing command: login, token, proof, status, watch or logout (see devicegate-device --help)');
      return EXIT.usage;
    }
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') {
        return EXIT.ok;
      }
      output.error('usage', `${error.message.replace(/^error: /, '')} (see devicegate-device --help)`);
      return EXIT.usage;
    }
    if (error instanceof DeviceClientError) {
      output.error(error.oauthError ?? error.code, error.message);
      return exitCodeFor(error.code);
    }
    output.error('internal', `internal error: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.internal;
  }
}
