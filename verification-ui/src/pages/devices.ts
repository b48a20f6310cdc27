import type { DeviceSummary } from '@devicegate/server';
import { html, type SafeHtml } from '../html.ts';
import { csrfField, notice, time, type Page, type PageContext } from './layout.ts';

/**
 * My devices: every device and app holding a live grant of this account, each with a button that
 * signs it out (revokes its refresh and access tokens at once).
 */
export function devicesPage(page: PageContext, options: { devices: DeviceSummary[]; signedOut?: boolean; extra?: SafeHtml }): Page {
  const { locale, base } = page;
  const items = options.devices.map((grant) => {
    const device = grant.deviceName ?? locale.t('devices.unnamed');
    const app = grant.clientName;
    return html`<li class="card">
  <h2>${device}${grant.agent ? html` <span class="tag">${locale.t('devices.agent')}</span>` : ''}</h2>
  ${grant.agent ? html`<p>${locale.t('devices.agentDetail')}</p>` : ''}
  <dl class="details">
    <div><dt>${locale.t('devices.app')}</dt><dd>${app}</dd></div>
    ${grant.deviceModel ? html`<div><dt>${locale.t('devices.model')}</dt><dd>${grant.deviceModel}</dd></div>` : ''}
    ${grant.services.length > 0 ? html`<div><dt>${locale.t('devices.services')}</dt><dd>${grant.services.map((service) => service.name).join(', ')}</dd></div>` : ''}
    <div><dt>${locale.t('devices.approved')}</dt><dd>${time(page, grant.createdAt)}</dd></div>
    <div><dt>${locale.t('devices.lastUsed')}</dt><dd>${grant.lastUsedAt === null ? locale.t('devices.never') : time(page, grant.lastUsedAt)}</dd></div>
  </dl>
  <form method="post" action="${base}/devices/sign-out" data-submit-once>
    ${csrfField(page)}
    <input type="hidden" name="grant" value="${grant.grantId}">
    <button type="submit" class="button secondary" aria-label="${locale.t('devices.signOutWhich', { device })}">${locale.t('devices.signOut')}</button>
  </form>
</li>`;
  });
  return {
    title: locale.t('devices.title'),
    body: html`<h1>${locale.t('devices.title')}</h1>
${options.signedOut ? notice('success', locale.t('devices.signedOut')) : ''}
<p>${locale.t('devices.intro')}</p>
${items.length > 0 ? html`<ul class="cards">${items}</ul>` : html`<p class="empty">${locale.t('devices.empty')}</p>`}
<p><a href="${page.home}">${locale.t('devices.connect')}</a></p>
${options.extra ?? ''}`,
  };
}
