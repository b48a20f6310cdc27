import type { PendingRequest } from '@devicegate/server';
import { formatUserCode } from '@devicegate/server/user-code';
import { html } from '../html.ts';
import { describeScope, REQUIRED_SCOPES } from '../scopes.ts';
import { csrfField, notice, time, type Page, type PageContext } from './layout.ts';

/**
 * Step 3: who wants what. Everything the device sent (its name and model) is text in an
 * auto-escaping template. The page shows when and from which network address the device asked,
 * and warns more strongly when that is not the person's own network (RFC 10027 §6: the main
 * defence against device code phishing is a person who notices the device is not theirs). The
 * services a device named with resource indicators (RFC 8707) are listed: its tokens reach
 * those and no others. When the client requires the same network and it differs, approval is
 * refused: the page says why and offers only Deny (docs/security.md PHISH-SAME-NETWORK). A device
 * name that reads like instructions is not shown at all (PHISH-DEVICE-NAME).
 */
export function consentPage(page: PageContext, options: { request: PendingRequest; personAddress: string }): Page {
  const { locale, base } = page;
  const { request, personAddress } = options;
  const deviceAddress = request.requestedFrom;
  const otherNetwork = !request.sameNetwork;
  const scopes = request.scopes.map((scope, index) => {
    const id = `scope-${index}`;
    const label = describeScope(locale, scope);
    return REQUIRED_SCOPES.has(scope)
      ? html`<li class="check">
      <input type="checkbox" id="${id}" checked disabled aria-describedby="${id}-required">
      <input type="hidden" name="scope" value="${scope}">
      <label for="${id}">${label} <span class="tag" id="${id}-required">${locale.t('consent.required')}</span></label>
    </li>`
      : html`<li class="check">
      <input type="checkbox" id="${id}" name="scope" value="${scope}" checked>
      <label for="${id}">${label}</label>
    </li>`;
  });
  return {
    title: locale.t('consent.title'),
    body: html`<h1>${locale.t('consent.title')}</h1>
<div class="client">${request.clientLogoUri ? html`<img src="${request.clientLogoUri}" alt="" width="48" height="48">` : ''}<p class="lead">${locale.markup('consent.intro', { client: html`<strong>${request.clientName}</strong>` })}</p></div>
${request.clientVerified
  ? ''
  : html`<div class="notice notice-danger" role="note">
  <h2>${locale.t('consent.unverifiedTitle')}</h2>
  <p>${locale.t('consent.unverified', { client: request.clientId })}</p>
</div>`}
${request.approvalRefused
  ? html`<div class="notice notice-danger" role="alert">
  <h2>${locale.t('consent.refusedTitle')}</h2>
  <p>${locale.t('consent.refusedDetail', { client: request.clientName, device: deviceAddress ?? locale.t('consent.unknown'), yours: personAddress })}</p>
</div>`
  : otherNetwork
  ? html`<div class="notice notice-danger" role="alert">
  <h2>${locale.t('consent.networkTitle')}</h2>
  <p>${locale.t('consent.networkDetail', { device: deviceAddress ?? locale.t('consent.unknown'), yours: personAddress })}</p>
</div>`
  : ''}
${request.deviceNameWithheld ? notice('warning', html`<p>${locale.t('consent.nameWithheldDetail')}</p>`) : ''}
<section aria-labelledby="details-heading">
<h2 id="details-heading">${locale.t('consent.details')}</h2>
<dl class="details">
  <div><dt>${locale.t('consent.app')}</dt><dd>${request.clientName}${request.clientVerified ? '' : html` <span class="tag">${locale.t('consent.unverifiedTag')}</span>`}</dd></div>
  <div><dt>${locale.t('consent.device')}</dt><dd>${request.deviceNameWithheld ? locale.t('consent.nameWithheld') : (request.deviceName ?? locale.t('consent.unnamedDevice'))}</dd></div>
  ${request.deviceModel ? html`<div><dt>${locale.t('consent.model')}</dt><dd>${request.deviceModel}</dd></div>` : ''}
  <div><dt>${locale.t('consent.code')}</dt><dd class="code">${formatUserCode(request.userCode)}</dd></div>
  <div><dt>${locale.t('consent.asked')}</dt><dd>${time(page, request.createdAt)}</dd></div>
  <div><dt>${locale.t('consent.address')}</dt><dd>${deviceAddress ?? locale.t('consent.unknown')}</dd></div>
</dl>
</section>
${request.services.length > 0
  ? html`<section aria-labelledby="services-heading">
<h2 id="services-heading">${locale.t('consent.services')}</h2>
<p>${locale.t('consent.servicesDetail')}</p>
<ul class="services">${request.services.map((service) => html`<li><strong>${service.name}</strong> <span class="resource">${service.resource}</span></li>`)}</ul>
</section>`
  : ''}
${notice('warning', html`<p>${locale.t('consent.warning')}</p>`)}
<form method="post" action="${base}/consent" class="stack" data-submit-once>
  ${csrfField(page)}
  <input type="hidden" name="request" value="${request.id}">
  <fieldset>
    <legend>${locale.t('consent.scopes')}</legend>
    <ul class="checks">${scopes}</ul>
  </fieldset>
  <div class="actions">
    ${request.approvalRefused ? '' : html`<button type="submit" name="decision" value="approve" class="button primary">${locale.t('consent.approve')}</button>`}
    <button type="submit" name="decision" value="deny" class="button secondary">${locale.t('consent.deny')}</button>
  </div>
</form>`,
  };
}
