import type { DeviceClientErrorCode } from '../core/errors.ts';

/** The CLI's exit codes; firmware scripts branch on these (README.md lists them). */
export const EXIT = {
  ok: 0,
  /** A bug: something no other code covers. */
  internal: 1,
  usage: 2,
  denied: 3,
  expired: 4,
  /** The appliance could not be reached, answered 5xx, or refused with an OAuth error. */
  network: 5,
  store: 6,
  notLoggedIn: 7,
  /** SIGINT or SIGTERM during login (128 + SIGINT's 2, as shells report it). */
  interrupted: 130,
} as const;

export function exitCodeFor(code: DeviceClientErrorCode): number {
  switch (code) {
    case 'usage':
      return EXIT.usage;
    case 'access_denied':
      return EXIT.denied;
    case 'expired_token':
      return EXIT.expired;
    case 'network':
    case 'server':
    case 'oauth':
    case 'push':
      return EXIT.network;
    case 'store':
      return EXIT.store;
    case 'not_logged_in':
      return EXIT.notLoggedIn;
    case 'aborted':
      return EXIT.interrupted;
  }
}
