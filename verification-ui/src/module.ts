import fastifyCookie from '@fastify/cookie';
import type { ApplianceModule, VerificationPort } from '@devicegate/server';
import type { FastifyError, FastifyInstance } from 'fastify';
import { brandStylesheet, IMMUTABLE, loadAssets, logoAsset } from './assets.ts';
import { contentSecurityPolicy, NO_STORE, originOf, PAGE_HEADERS } from './headers.ts';
import { loadCatalogs } from './i18n.ts';
import { messagePage } from './pages/message.ts';
import { createResponder, type PagesDependencies } from './respond.ts';
import { registerConsent } from './routes/consent.ts';
import { registerDevices } from './routes/devices.ts';
import { registerDone } from './routes/done.ts';
import { registerEnterCode } from './routes/enter-code.ts';
import { registerPasskeys } from './routes/passkeys.ts';
import { registerSignIn } from './routes/sign-in.ts';
import { registerSignOut } from './routes/sign-out.ts';
import { createSessions } from './session.ts';

export interface VerificationModuleOptions {
  /** What the pages may ask of the appliance; built by the composition root from its context. */
  port: VerificationPort;
  /** Language when nothing the browser asks for has a catalog (default `en`). */
  defaultLanguage?: string;
  /** Folder of `<language>.json` message catalogs (default: this package's `locales/`). */
  localesDirectory?: URL;
}

/**
 * The verification pages (RFC 8628 §3.3) as an appliance module, mounted at the configured
 * verification path: enter the code, sign in, consent, done, and My devices.
 *
 * Everything lives in its own Fastify plugin scope with its own error and not-found handlers,
 * so pages answer in HTML while the OAuth endpoints keep their JSON errors.
 */
export function createVerificationModule(options: VerificationModuleOptions): ApplianceModule {
  const catalogs = loadCatalogs(options.localesDirectory, options.defaultLanguage);
  const assets = loadAssets();
  const { branding } = options.port.settings;
  assets.set('brand.css', brandStylesheet(branding));
  if (branding.logoFile) assets.set('logo', logoAsset(branding.logoFile));
  return {
    name: 'verification-ui',
    async register(app: FastifyInstance) {
      const { port } = options;
      const base = port.settings.verificationPath.replace(/\/+$/, '');
      registerShortAddress(app, port.settings);
      await app.register(
        async (scope) => {
          // Another module, or the app, may already have registered the cookie parser above us.
          if (!scope.hasRequestDecorator('cookies')) await scope.register(fastifyCookie);
          // Only the origins configuration names join the CSP: the logo's and the provider icons'
          // (img-src), the providers' authorization endpoints (form-action).
          const { providers } = port.settings;
          const configuredImages = [branding.logoUrl, ...providers.map((provider) => provider.icon)].map(originOf).filter((origin): origin is string => origin !== null);
          const policy = (images: string[] = []) => contentSecurityPolicy({ images: [...configuredImages, ...images], formTargets: port.upstream.formTargets() });
          const deps: PagesDependencies = { port, sessions: createSessions(port), catalogs, assets, base, contentSecurityPolicy: policy };
          const respond = createResponder(deps);

          scope.addHook('onSend', async (_request, reply, payload) => {
            const ownPolicy = reply.getHeader('content-security-policy');
            reply.headers(PAGE_HEADERS);
            reply.header('content-security-policy', typeof ownPolicy === 'string' ? ownPolicy : policy());
            if (!reply.hasHeader('cache-control')) reply.headers(NO_STORE);
            return payload;
          });

          scope.get<{ Params: { name: string } }>('/assets/:name', async (request, reply) => {
            const asset = assets.get(request.params.name);
            if (!asset) return reply.callNotFound();
            return reply.header('cache-control', IMMUTABLE).type(asset.contentType).send(asset.body);
          });

          registerEnterCode(scope, deps, respond);
          registerSignIn(scope, deps, respond);
          registerConsent(scope, deps, respond);
          registerDone(scope, deps, respond);
          registerDevices(scope, deps, respond);
          registerSignOut(scope, deps, respond);
          registerPasskeys(scope, deps, respond);

          scope.setErrorHandler(async (error: FastifyError, request, reply) => {
            const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
            if (status >= 500) request.log.error({ err: error }, 'verification page failed');
            const { page } = await respond.begin(request, reply);
            const content =
              status >= 500
                ? messagePage(page, { title: 'error.serverTitle', message: page.locale.t('error.server') })
                : messagePage(page, { title: 'error.badRequestTitle', message: page.locale.t('error.badRequest') });
            return respond.send(reply, page, content, status);
          });
          // At the root the app's own JSON not-found handler stays (Fastify allows one per prefix).
          if (base !== '') {
            scope.setNotFoundHandler(async (request, reply) => {
              const { page } = await respond.begin(request, reply);
              return respond.send(reply, page, messagePage(page, { title: 'error.notFoundTitle', message: page.locale.t('error.notFound') }), 404);
            });
          }
        },
        { prefix: base },
      );
    },
  };
}

/**
 * A short verification address (config verificationUri, e.g. https://example.com/tv) whose proxy
 * sends it here: its path answers with a redirect to the pages, the typed or scanned user code
 * kept (RFC 8628 §3.3.1), so the address on the screen can be shorter than the pages' own
 * (docs/deploy.md#a-short-verification-address). Nothing is registered when it is the pages' own.
 */
function registerShortAddress(app: FastifyInstance, settings: { issuer: string; verificationPath: string; verificationUri: string }): void {
  const pages = `${settings.issuer}${settings.verificationPath}`;
  const shortPath = new URL(settings.verificationUri).pathname.replace(/(?<=[^/])\/+$/, '');
  if (shortPath === settings.verificationPath.replace(/(?<=[^/])\/+$/, '') || app.hasRoute({ method: 'GET', url: shortPath })) return;
  app.get<{ Querystring: Record<string, string | string[] | undefined> }>(shortPath, async (request, reply) => {
    const typed = request.query.user_code;
    const target = typeof typed === 'string' && typed.length <= 64 ? `${pages}?user_code=${encodeURIComponent(typed)}` : pages;
    return reply.code(303).header('cache-control', 'no-store').redirect(target);
  });
}
