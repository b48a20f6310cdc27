import { html } from '../html.ts';
import { csrfField, notice, type Page, type PageContext } from './layout.ts';

export interface EnterCodeOptions {
  /** What goes in the field: the code from verification_uri_complete, or what was typed. */
  value?: string;
  /** True when the code came from the link (the QR code): the person is asked to compare it. */
  prefilled?: boolean;
  error?: string;
  info?: string;
}

/**
 * Step 1: the person types the code the device shows, or confirms the one the QR code brought
 * (RFC 8628 §5.4: they see the code and compare it with the device before going on).
 */
export function enterCodePage(page: PageContext, options: EnterCodeOptions = {}): Page {
  const { locale, home } = page;
  const describedBy = options.error ? 'user_code-hint user_code-error' : 'user_code-hint';
  return {
    title: locale.t('code.title'),
    body: html`<h1>${locale.t('code.title')}</h1>
${options.info ? notice('info', options.info) : ''}
<p>${locale.t(options.prefilled ? 'code.introPrefilled' : 'code.intro')}</p>
<form method="post" action="${home}" class="stack">
  ${csrfField(page)}
  <div class="field">
    <label for="user_code">${locale.t('code.label')}</label>
    <p class="hint" id="user_code-hint">${locale.t('code.hint')}</p>
    ${options.error ? notice('error', options.error, 'user_code-error') : ''}
    <input class="code-input" id="user_code" name="user_code" type="text" value="${options.value ?? ''}"
      autocomplete="off" autocapitalize="characters" autocorrect="off" spellcheck="false" maxlength="32" required
      aria-describedby="${describedBy}"${options.error ? html` aria-invalid="true"` : ''} data-user-code>
  </div>
  <button type="submit" class="button primary">${locale.t('code.submit')}</button>
</form>`,
  };
}
