import { DeviceClientError, oneLine } from '../core/errors.ts';
import type { LoginEvent } from '../core/events.ts';
import type { StartLoginOptions } from '../login.ts';
import type { Session } from '../session.ts';
import { bigText } from './big-text.ts';
import { EXIT } from './exit-codes.ts';
import type { CliIo, Output } from './io.ts';

function formatDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const minutes = Math.floor(total / 60);
  const seconds = total % 60;
  return `${minutes}:${String(seconds).padStart(2, '0')}`;
}

/**
 * `login`: shows the code (large), the URL, a QR code and a countdown to a person, or prints
 * DeviceCliEvent lines for firmware; waits; stores the tokens. Never prints a token.
 */
export async function runLogin(options: {
  io: CliIo;
  output: Output;
  session: Session;
  login: Omit<StartLoginOptions, 'onEvent' | 'signal'>;
  qrPng?: string;
  terminalQr: boolean;
}): Promise<number> {
  const { io, output, session } = options;
  const live = !output.json && Boolean(io.stdout.isTTY);
  let expiresAt = 0;
  let state = 'waiting for approval';
  let countdown: ReturnType<typeof setInterval> | undefined;
  const drawCountdown = () => {
    // One line that is redrawn in place: cut to the terminal's width, or it would wrap and pile up.
    const line = `  Code expires in ${formatDuration(expiresAt - Date.now())} · ${state}`;
    const width = Math.max(20, (io.stdout.columns ?? 80) - 1);
    io.stdout.write(`\r\x1b[2K${line.length > width ? `${line.slice(0, width - 1)}…` : line}`);
  };
  const endCountdown = () => {
    if (countdown === undefined) return;
    clearInterval(countdown);
    countdown = undefined;
    io.stdout.write('\r\x1b[2K');
  };

  const onEvent = (event: LoginEvent) => {
    switch (event.type) {
      case 'code':
        expiresAt = event.expiresAt;
        output.event({
          event: 'code',
          user_code: event.userCode,
          verification_uri: event.verificationUri,
          ...(event.verificationUriComplete ? { verification_uri_complete: event.verificationUriComplete } : {}),
          expires_in: event.expiresIn,
          interval: event.interval,
          channel: event.channel,
        });
        state = event.channel === 'poll' ? 'waiting for approval' : `waiting for approval (${event.channel})`;
        break;
      case 'channel':
        if (event.state === 'subscribed') state = `waiting for approval (${event.channel})`;
        else if (event.state === 'reconnecting') state = `waiting for approval (${event.channel} reconnecting, polling)`;
        else if (event.state === 'failed') state = 'waiting for approval (polling)';
        break;
      case 'slow_down':
        state = `waiting for approval (polling every ${event.interval} s)`;
        break;
      case 'error':
        if (!event.fatal) state = `waiting for approval (retrying: ${oneLine(event.error.message).slice(0, 60)})`;
        break;
      case 'approved':
        endCountdown();
        output.event({ event: 'approved' });
        output.info('  Approved.');
        break;
      case 'denied':
        endCountdown();
        output.event({ event: 'denied' });
        break;
      case 'expired':
        endCountdown();
        output.event({ event: 'expired' });
        break;
      default:
        break;
    }
  };

  const login = await session.login({ ...options.login, onEvent });
  if (options.qrPng) {
    try {
      await login.qr.writePng(options.qrPng);
    } catch (error) {
      throw new DeviceClientError('usage', `cannot write the QR code to ${options.qrPng}: ${(error as Error).message}`);
    }
  }
  if (!output.json) {
    // Letters five rows tall, where they fit: a wrapped one would be unreadable.
    const drawn = bigText(login.userCode, { indent: '  ' });
    const fits = drawn !== null && Math.max(...drawn.split('\n').map((row) => row.length)) < (io.stdout.columns ?? 80);
    const big = fits ? drawn : null;
    const lines = [
      '',
      '  To sign in this device, open this page on your phone or computer:',
      '',
      `    ${login.verificationUri}`,
      '',
      '  and enter the code:',
      '',
      ...(big ? [big, ''] : []),
      `    ${login.userCode}`,
      '',
    ];
    if (options.terminalQr) {
      const qr = await login.qr.terminal();
      lines.push('  Or scan this QR code:', '', ...qr.trimEnd().split('\n').map((line) => `  ${line}`), '');
    }
    if (options.qrPng) lines.push(`  (QR code also written to ${options.qrPng})`, '');
    if (!live) lines.push(`  The code expires in ${formatDuration(login.expiresAt - Date.now())}. Waiting for approval...`);
    io.stdout.write(`${lines.join('\n')}\n`);
  }

  if (live) {
    countdown = setInterval(drawCountdown, 1000);
    countdown.unref?.();
  }
  try {
    // onEvent's `code` fires first inside wait(), so the countdown has its deadline before drawing.
    const waiting = login.wait();
    if (live) setImmediate(drawCountdown);
    const tokens = await waiting;
    endCountdown();
    output.event({
      event: 'stored',
      profile: session.profile,
      ...(tokens.scope ? { scope: tokens.scope } : {}),
      ...(tokens.expiresAt !== undefined ? { expires_in: Math.max(0, Math.round((tokens.expiresAt - Date.now()) / 1000)) } : {}),
    });
    output.info(`  Signed in. Tokens stored in profile "${session.profile}" (${session.store.fileOf(session.profile)}).`);
    return EXIT.ok;
  } catch (error) {
    endCountdown();
    if (error instanceof DeviceClientError && (error.code === 'access_denied' || error.code === 'expired_token')) {
      // The JSON event (denied/expired) is already out; a person gets one line.
      io.stderr.write(
        `devicegate-device: ${error.code === 'access_denied' ? 'sign-in was denied' : 'the code expired before it was approved; run login again'}\n`,
      );
      return error.code === 'access_denied' ? EXIT.denied : EXIT.expired;
    }
    throw error;
  }
}
