import type { Locale, MessageKey } from './i18n.ts';

/**
 * Scopes on the consent page. `openid` is what the sign-in is (the device learns who signed in),
 * so it cannot be unticked; every other scope is the person's choice (OIDC Core §11:
 * offline_access, the refresh token, is shown and may be refused).
 */
export const REQUIRED_SCOPES: ReadonlySet<string> = new Set(['openid']);

const DESCRIBED = new Set(['openid', 'profile', 'email', 'offline_access']);

/** The scope in plain words, in the page's language. */
export function describeScope(locale: Locale, scope: string): string {
  return DESCRIBED.has(scope) ? locale.t(`scope.${scope}` as MessageKey) : locale.t('scope.other', { scope });
}

/**
 * What the person granted: the requested scopes that are required or that they left ticked.
 * Anything else in the form (a scope never requested) is ignored: the grant can only narrow.
 */
export function grantedScopes(requested: readonly string[], ticked: readonly string[]): string[] {
  const chosen = new Set(ticked);
  return requested.filter((scope) => REQUIRED_SCOPES.has(scope) || chosen.has(scope));
}
