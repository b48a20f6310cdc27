import { html } from '../html.ts';
import { notice, type Page, type PageContext } from './layout.ts';

/** The end: what happened, in one sentence, and that the page may be closed. */
export function approvedPage(page: PageContext, device: string): Page {
  const { locale, base } = page;
  return {
    title: locale.t('done.approvedTitle'),
    body: html`<h1>${locale.t('done.approvedTitle')}</h1>
${notice('success', html`<p>${locale.markup('done.approved', { device: html`<strong>${device}</strong>` })}</p>`)}
<p><a href="${base}/devices">${locale.t('done.myDevices')}</a></p>`,
  };
}

export function deniedPage(page: PageContext): Page {
  const { locale, base } = page;
  return {
    title: locale.t('done.deniedTitle'),
    body: html`<h1>${locale.t('done.deniedTitle')}</h1>
${notice('info', html`<p><strong>${locale.t('done.denied')}</strong></p><p>${locale.t('done.deniedDetail')}</p>`)}
<p><a href="${base}/devices">${locale.t('done.myDevices')}</a></p>`,
  };
}
