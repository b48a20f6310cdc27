/** Public API of the verification pages: the appliance module, and the pieces worth reusing. */
export { createVerificationModule, type VerificationModuleOptions } from './module.js';
export { html, escapeHtml, SafeHtml, type HtmlValue } from './html.js';
export { loadCatalogs, type Catalogs, type Locale, type MessageKey } from './i18n.js';
export { CONTENT_SECURITY_POLICY } from './headers.js';
export { cookiePolicy } from './session.js';
