import type { VerificationPort } from '@devicegate/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Asset } from './assets.ts';
import type { Catalogs } from './i18n.ts';
import { layout, type Page, type PageContext } from './pages/layout.ts';
import { messagePage } from './pages/message.ts';
import type { Sessions, Visitor } from './session.ts';

export interface PagesDependencies {
  /** Everything the pages may ask of the appliance (server/src/ports/verification.ts). */
  port: VerificationPort;
  sessions: Sessions;
  catalogs: Catalogs;
  assets: Map<string, Asset>;
  /** Verification path without a trailing slash ('' when mounted at the root). */
  base: string;
  /** The page's Content-Security-Policy, with the configured origins and any `images` of this page. */
  contentSecurityPolicy(images?: string[]): string;
}

/** The form of a POST: the server's parser hands pages every value (repeated `scope`s too). */
export function formOf(request: FastifyRequest): URLSearchParams {
  return request.body instanceof URLSearchParams ? request.body : new URLSearchParams();
}

/** One query parameter, bounded; absent, repeated or oversized is null. */
export function queryValue(request: FastifyRequest, name: string, maxLength = 256): string | null {
  const value = (request.query as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' && value.length <= maxLength ? value : null;
}

export function createResponder(deps: PagesDependencies) {
  const { sessions, catalogs, assets, base, port } = deps;
  const assetUrl = (name: string) => `${base}/assets/${name}?v=${assets.get(name)!.version}`;
  const { branding } = port.settings;
  // A logo served by devicegate carries its version too, so it can be cached for a year.
  const logoUrl = branding.logoFile ? assetUrl('logo') : branding.logoUrl;
  const brand = { productName: branding.productName, logoUrl };
  const assetUrls = { css: assetUrl('app.css'), brandCss: assetUrl('brand.css'), js: assetUrl('app.js'), webauthn: assetUrl('webauthn.js'), passkeys: assetUrl('passkeys.js') };
  const home = base || '/';

  /**
   * The visitor and the page context of a request. Language: `?lang=` (the switch, remembered in
   * a cookie), else that cookie, else Accept-Language, else English.
   */
  async function begin(request: FastifyRequest, reply: FastifyReply): Promise<{ visitor: Visitor; page: PageContext }> {
    const visitor = await sessions.visitor(request, reply);
    const chosen = catalogs.get(queryValue(request, 'lang', 16) ?? undefined);
    if (chosen) sessions.language.set(reply, chosen.code);
    const locale = chosen ?? catalogs.get(sessions.language.get(request)) ?? catalogs.negotiate(request.headers['accept-language']);
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries((request.query as Record<string, unknown> | undefined) ?? {})) {
      if (typeof value === 'string' && name !== 'lang') query.set(name, value.slice(0, 256));
    }
    const page: PageContext = {
      locale,
      locales: catalogs.all,
      visitor,
      base,
      home,
      // The route's own pattern, never the raw URL: the language links cannot be pointed elsewhere.
      path: request.routeOptions.url ?? home,
      query,
      assets: assetUrls,
      brand,
      now: port.now(),
    };
    return { visitor, page };
  }

  function send(reply: FastifyReply, page: PageContext, content: Page, status = 200): FastifyReply {
    return reply.code(status).type('text/html; charset=utf-8').send(layout(page, content));
  }

  /** Post/Redirect/Get: 303 so the browser follows with a GET, and reloading never re-posts. */
  function seeOther(reply: FastifyReply, location: string): FastifyReply {
    return reply.redirect(location, 303);
  }

  /** A POST without a valid CSRF token changes nothing and says so. */
  function forbidden(reply: FastifyReply, page: PageContext): FastifyReply {
    return send(reply, page, messagePage(page, { title: 'error.csrfTitle', message: page.locale.t('error.csrf') }), 403);
  }

  return { begin, send, seeOther, forbidden, home };
}

export type Responder = ReturnType<typeof createResponder>;
