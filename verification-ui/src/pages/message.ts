import { html } from '../html.ts';
import type { MessageKey } from '../i18n.ts';
import { notice, type Page, type PageContext } from './layout.ts';

/** A page that only says something: errors, "too many attempts", a code that can no longer be used. */
export function messagePage(
  page: PageContext,
  options: { title: MessageKey; message: string; kind?: 'error' | 'warning' | 'info'; link?: { href: string; label: MessageKey } },
): Page {
  const { locale } = page;
  const link = options.link ?? { href: page.home, label: 'error.startAgain' as const };
  return {
    title: locale.t(options.title),
    body: html`<h1>${locale.t(options.title)}</h1>
${notice(options.kind ?? 'error', options.message)}
<p><a href="${link.href}">${locale.t(link.label)}</a></p>`,
  };
}
