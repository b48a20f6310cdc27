import { html, type HtmlValue, type SafeHtml } from '../html.ts';
import type { Locale, MessageKey } from '../i18n.ts';
import type { Visitor } from '../session.ts';

/** What every page template needs to know about the request it answers. */
export interface PageContext {
  locale: Locale;
  /** Every language, for the switch. */
  locales: readonly Locale[];
  visitor: Visitor;
  /** The verification path without a trailing slash (`/device`); links are `${base}/devices`. */
  base: string;
  /** The page where a code is entered: `base`, or `/` when the pages are mounted at the root. */
  home: string;
  /** This page's path and query, so the language links keep the person where they are. */
  path: string;
  query: URLSearchParams;
  /** The product's name (null: the catalog's) and logo (config branding). */
  brand: { productName: string | null; logoUrl: string | null };
  /** `webauthn` and `passkeys` are loaded by the passkey parts only (pages/passkeys.ts). */
  assets: { css: string; brandCss: string; js: string; webauthn: string; passkeys: string };
  now: number;
}

export interface Page {
  title: string;
  body: SafeHtml;
}

/** The hidden CSRF field every form carries. */
export const csrfField = (page: PageContext) => html`<input type="hidden" name="csrf" value="${page.visitor.csrfToken}">`;

/** A message box. Errors are `role="alert"` so a screen reader announces them when the page loads. */
export function notice(kind: 'error' | 'info' | 'success' | 'warning', content: HtmlValue, id?: string): SafeHtml {
  const role = kind === 'error' ? 'alert' : 'status';
  return html`<div class="notice notice-${kind}" role="${role}"${id ? html` id="${id}"` : ''}>${content}</div>`;
}

export function time(page: PageContext, at: number): SafeHtml {
  return html`<time datetime="${new Date(at).toISOString()}">${page.locale.relativeTime(at, page.now)}</time>`;
}

function languageLink(page: PageContext, locale: Locale): SafeHtml {
  const query = new URLSearchParams(page.query);
  query.set('lang', locale.code);
  const current = locale.code === page.locale.code;
  return html`<li><a href="${page.path}?${query.toString()}" hreflang="${locale.code}" lang="${locale.code}"${current ? html` aria-current="true"` : ''}>${locale.name}</a></li>`;
}

/**
 * The one layout: a document in the person's language, a header with their account links when
 * signed in, the page, and the language switch. No inline script or style anywhere (the CSP
 * forbids both); the stylesheet and the small script are files of this package.
 */
export function layout(page: PageContext, content: Page): string {
  const { locale, visitor, base, brand } = page;
  const productName = brand.productName ?? locale.t('layout.brand');
  const t = (key: MessageKey, params?: Record<string, string>) => locale.t(key, params);
  const account = visitor.user
    ? html`<nav class="account" aria-label="${t('layout.account')}">
        <span class="who">${t('layout.signedInAs', { username: visitor.user.username })}</span>
        <a href="${base}/devices">${t('layout.myDevices')}</a>
        <form method="post" action="${base}/sign-out" class="inline">${csrfField(page)}<button type="submit" class="link">${t('layout.signOut')}</button></form>
      </nav>`
    : '';
  return html`<!doctype html>
<html lang="${locale.code}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${content.title} · ${productName}</title>
<link rel="stylesheet" href="${page.assets.css}">
<link rel="stylesheet" href="${page.assets.brandCss}">
<script src="${page.assets.js}" defer></script>
</head>
<body>
<a class="skip" href="#main">${t('layout.skip')}</a>
<header class="top">
  <a class="brand" href="${page.home}">${brand.logoUrl ? html`<img src="${brand.logoUrl}" alt="" height="32">` : ''}${productName}</a>
  ${account}
</header>
<main id="main" tabindex="-1">
${content.body}
</main>
<footer class="bottom">
  <nav aria-label="${t('layout.language')}"><ul class="languages">${page.locales.map((other) => languageLink(page, other))}</ul></nav>
</footer>
</body>
</html>
`.toString();
}
