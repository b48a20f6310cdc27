/**
 * The one error type of the device client. `code` says what kind of failure it is, so an app (or
 * the CLI's exit code) can act on it without parsing messages; `message` is one readable line.
 */
export type DeviceClientErrorCode =
  /** Bad options or arguments. */
  | 'usage'
  /** RFC 8628 §3.5: the person denied the request. */
  | 'access_denied'
  /** RFC 8628 §3.5: the device code expired before the person approved. */
  | 'expired_token'
  /** The appliance could not be reached, or timed out. Retryable. */
  | 'network'
  /** The appliance answered 5xx or something that is not OAuth. Retryable. */
  | 'server'
  /** The appliance answered an OAuth error other than the ones above (`oauthError` says which). */
  | 'oauth'
  /** The push channel could not be used (polling goes on regardless). */
  | 'push'
  /** The local token store is unreadable, unsafe, tampered with, wrongly keyed or unwritable. */
  | 'store'
  /** No stored sign-in for this profile, or the appliance no longer accepts its refresh token. */
  | 'not_logged_in'
  /** Cancelled through the AbortSignal. */
  | 'aborted';

export class DeviceClientError extends Error {
  readonly code: DeviceClientErrorCode;
  /** The OAuth `error` member when the appliance sent one (RFC 6749 §5.2). */
  readonly oauthError?: string;
  readonly status?: number;
  /** True when trying again later may succeed (network failures, 5xx). */
  readonly retryable: boolean;

  constructor(
    code: DeviceClientErrorCode,
    message: string,
    options: { oauthError?: string; status?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DeviceClientError';
    this.code = code;
    if (options.oauthError !== undefined) this.oauthError = options.oauthError;
    if (options.status !== undefined) this.status = options.status;
    this.retryable = code === 'network' || code === 'server';
  }
}

export function abortedError(signal?: AbortSignal): DeviceClientError {
  const reason = signal?.reason;
  const detail = reason instanceof Error && reason.name !== 'AbortError' ? `: ${reason.message}` : '';
  return new DeviceClientError('aborted', `cancelled${detail}`);
}

/** One line, whatever the cause: error messages from libraries sometimes span lines. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
