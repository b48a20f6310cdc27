import type { PasskeySummary } from '@devicegate/server';
import { html, type SafeHtml } from '../html.ts';
import { csrfField, notice, time, type PageContext } from './layout.ts';
import type { AfterSignIn } from './sign-in.ts';

/**
 * The passkey parts of the sign-in page and of My devices, kept apart from those pages' own
 * templates. Each is hidden until passkeys.js (after @simplewebauthn/browser's webauthn.js) finds
 * WebAuthn in the browser, so without script the pages are exactly the password pages. The
 * server's WebAuthn options travel in a data attribute (escaped like any text), never in an inline
 * script: the CSP allows none.
 */

function scripts(page: PageContext): SafeHtml {
  // `defer` keeps document order: the library first, then ours.
  return html`<script src="${page.assets.webauthn}" defer></script><script src="${page.assets.passkeys}" defer></script>`;
}

/** Below the password form: sign in with a passkey instead. */
export function passkeySignIn(page: PageContext, options: { next: AfterSignIn; webauthnOptions: object }): SafeHtml {
  const { locale, base } = page;
  return html`<section class="passkey" data-passkey hidden aria-labelledby="passkey-sign-in">
  <h2 id="passkey-sign-in">${locale.t('passkey.signInTitle')}</h2>
  <form method="post" action="${base}/passkeys/sign-in" data-passkey-form="sign-in" data-options="${JSON.stringify(options.webauthnOptions)}">
    ${csrfField(page)}
    <input type="hidden" name="next" value="${options.next}">
    <input type="hidden" name="response" value="">
    <p class="notice notice-error" role="alert" data-passkey-problem hidden>${locale.t('passkey.cancelled')}</p>
    <button type="submit" class="button secondary">${locale.t('passkey.signIn')}</button>
  </form>
</section>
${scripts(page)}`;
}

/** On My devices: the account's passkeys (removable without script) and adding one (with). */
export function passkeyDevicesSection(
  page: PageContext,
  options: { passkeys: PasskeySummary[]; webauthnOptions: object; notice?: 'added' | 'removed' | 'failed' },
): SafeHtml {
  const { locale, base } = page;
  const items = options.passkeys.map((passkey, index) => {
    const label = locale.t('passkey.label', { number: String(index + 1) });
    return html`<li class="card">
  <h3>${label}</h3>
  <dl class="details">
    <div><dt>${locale.t('passkey.added')}</dt><dd>${time(page, passkey.createdAt)}</dd></div>
    <div><dt>${locale.t('devices.lastUsed')}</dt><dd>${passkey.lastUsedAt === null ? locale.t('devices.never') : time(page, passkey.lastUsedAt)}</dd></div>
    <div><dt>${locale.t('passkey.kind')}</dt><dd>${locale.t(passkey.synced ? 'passkey.synced' : 'passkey.single')}</dd></div>
  </dl>
  <form method="post" action="${base}/passkeys/remove" data-submit-once>
    ${csrfField(page)}
    <input type="hidden" name="passkey" value="${passkey.id}">
    <button type="submit" class="button secondary" aria-label="${locale.t('passkey.removeWhich', { passkey: label })}">${locale.t('passkey.remove')}</button>
  </form>
</li>`;
  });
  const notices = {
    added: notice('success', locale.t('passkey.addedNotice')),
    removed: notice('success', locale.t('passkey.removedNotice')),
    failed: notice('error', locale.t('passkey.failed')),
  };
  return html`<section class="passkey" aria-labelledby="passkeys-title">
  <h2 id="passkeys-title">${locale.t('passkey.title')}</h2>
  ${options.notice ? notices[options.notice] : ''}
  <p>${locale.t('passkey.intro')}</p>
  ${items.length > 0 ? html`<ul class="cards">${items}</ul>` : html`<p class="empty">${locale.t('passkey.none')}</p>`}
  <form method="post" action="${base}/passkeys/register" data-passkey data-passkey-form="register" data-options="${JSON.stringify(options.webauthnOptions)}" hidden>
    ${csrfField(page)}
    <input type="hidden" name="response" value="">
    <p class="notice notice-error" role="alert" data-passkey-problem hidden>${locale.t('passkey.cancelled')}</p>
    <button type="submit" class="button primary">${locale.t('passkey.add')}</button>
  </form>
</section>
${scripts(page)}`;
}
