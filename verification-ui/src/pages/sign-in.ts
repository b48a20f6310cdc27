import type { UpstreamProvider } from '@devicegate/server';
import { html, type SafeHtml } from '../html.ts';
import { csrfField, notice, type Page, type PageContext } from './layout.ts';

export type AfterSignIn = 'consent' | 'devices';

export interface SignInOptions {
  next: AfterSignIn;
  username?: string;
  error?: string;
  /** Upstream OpenID providers, one button each (config signIn.providers). */
  providers: readonly UpstreamProvider[];
  /** The password form (config signIn.localPasswords). */
  localPasswords: boolean;
  /** Other ways in, kept in their own templates (pages/passkeys.ts). */
  extra?: SafeHtml;
}

/**
 * The providers: one small form per provider, each a POST with the CSRF token, so no other site
 * can start a round trip in this browser. The icon is decorative (the label names the provider).
 */
function providersList(page: PageContext, options: SignInOptions): SafeHtml | '' {
  if (options.providers.length === 0) return '';
  const { locale, base } = page;
  return html`<ul class="providers" aria-label="${locale.t('signIn.providers')}">
${options.providers.map(
  (provider) => html`  <li><form method="post" action="${base}/sign-in/${provider.id}" data-submit-once>
    ${csrfField(page)}
    <input type="hidden" name="next" value="${options.next}">
    <button type="submit" class="button provider">${provider.icon ? html`<img src="${provider.icon}" alt="" width="20" height="20">` : ''}${locale.t('signIn.withProvider', { provider: provider.label })}</button>
  </form></li>
`,
)}</ul>`;
}

function passwordForm(page: PageContext, options: SignInOptions): SafeHtml {
  const { locale, base } = page;
  const errorId = options.error ? 'sign-in-error' : undefined;
  return html`<form method="post" action="${base}/sign-in" class="stack">
  ${csrfField(page)}
  <input type="hidden" name="next" value="${options.next}">
  <div class="field">
    <label for="username">${locale.t('signIn.username')}</label>
    <input id="username" name="username" type="text" value="${options.username ?? ''}" autocomplete="username"
      autocapitalize="none" autocorrect="off" spellcheck="false" maxlength="256" required${errorId ? html` aria-describedby="${errorId}"` : ''}>
  </div>
  <div class="field">
    <label for="password">${locale.t('signIn.password')}</label>
    <input id="password" name="password" type="password" autocomplete="current-password" maxlength="1024" required>
  </div>
  <button type="submit" class="button primary">${locale.t('signIn.submit')}</button>
</form>`;
}

/** Step 2, unless already signed in: the providers, then a local account's password (each optional). */
export function signInPage(page: PageContext, options: SignInOptions): Page {
  const { locale } = page;
  const errorId = options.error ? 'sign-in-error' : undefined;
  const providers = providersList(page, options);
  return {
    title: locale.t('signIn.title'),
    body: html`<h1>${locale.t('signIn.title')}</h1>
<p>${locale.t(options.next === 'consent' ? 'signIn.introDevice' : 'signIn.introDevices')}</p>
${options.error ? notice('error', options.error, errorId) : ''}
${providers}
${providers && options.localPasswords ? html`<p class="or">${locale.t('signIn.or')}</p>` : ''}
${options.localPasswords ? passwordForm(page, options) : ''}
${options.extra ?? ''}`,
  };
}
