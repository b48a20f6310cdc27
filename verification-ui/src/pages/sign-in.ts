import { html } from '../html.ts';
import { csrfField, notice, type Page, type PageContext } from './layout.ts';

export type AfterSignIn = 'consent' | 'devices';

/** Step 2, unless already signed in: a local account. */
export function signInPage(page: PageContext, options: { next: AfterSignIn; username?: string; error?: string }): Page {
  const { locale, base } = page;
  const errorId = options.error ? 'sign-in-error' : undefined;
  return {
    title: locale.t('signIn.title'),
    body: html`<h1>${locale.t('signIn.title')}</h1>
<p>${locale.t(options.next === 'consent' ? 'signIn.introDevice' : 'signIn.introDevices')}</p>
${options.error ? notice('error', options.error, errorId) : ''}
<form method="post" action="${base}/sign-in" class="stack">
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
</form>`,
  };
}
