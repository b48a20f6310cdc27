/** Public API of the verification pages: the appliance module, and the pieces worth reusing. */
export { createVerificationModule, type VerificationModuleOptions } from './module.ts';
export { html, escapeHtml, SafeHtml, type HtmlValue } from './html.ts';
export { loadCatalogs, type Catalogs, type Locale, type MessageKey } from './i18n.ts';
export { CONTENT_SECURITY_POLICY } from './headers.ts';
export { cookiePolicy } from './session.ts';
