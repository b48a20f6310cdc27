import type { FastifyInstance, FastifyReply } from 'fastify';
import type { PageContext } from '../pages/layout.ts';
import { messagePage } from '../pages/message.ts';
import { signInPage, type AfterSignIn, type SignInOptions } from '../pages/sign-in.ts';
import { formOf, queryValue, type PagesDependencies, type Responder } from '../respond.ts';
import { passkeySignInPart } from './passkeys.ts';

/**
 * Step 2: the upstream providers (one POST each, then their round trip) and a local account's
 * password (throttled per account and per address), each offered as configured.
 */
export function registerSignIn(scope: FastifyInstance, deps: PagesDependencies, respond: Responder): void {
  const { port, sessions, base } = deps;
  const { settings } = port;
  const target = (next: AfterSignIn) => `${base}/${next}`;
  const offered = (next: AfterSignIn): SignInOptions => ({ next, providers: settings.providers, localPasswords: settings.localPasswords });
  /** With the passkey part (routes/passkeys.ts). */
  const withPasskeys = async (page: PageContext, options: SignInOptions): Promise<SignInOptions> => ({ ...options, extra: await passkeySignInPart(deps, page, options.next) });

  scope.get('/sign-in', async (request, reply) => {
    const { visitor, page } = await respond.begin(request, reply);
    const next: AfterSignIn = queryValue(request, 'next') === 'consent' && sessions.flow.get(request) ? 'consent' : 'devices';
    if (visitor.user) return respond.seeOther(reply, target(next));
    return respond.send(reply, page, signInPage(page, await withPasskeys(page, offered(next))));
  });

  scope.post('/sign-in', async (request, reply) => {
    const form = formOf(request);
    const { visitor, page } = await respond.begin(request, reply);
    if (!sessions.csrfValid(visitor, form)) return respond.forbidden(reply, page);
    const next: AfterSignIn = form.get('next') === 'consent' ? 'consent' : 'devices';
    // docs/security.md UPSTREAM-PASSWORDS-OFF: with local passwords off, no password is even
    // looked at (the port refuses too, for any other front end).
    if (!settings.localPasswords) {
      return respond.send(reply, page, messagePage(page, { title: 'signIn.title', message: page.locale.t('signIn.passwordsOff'), link: { href: `${base}/sign-in?next=${next}`, label: 'upstream.tryAgain' } }), 403);
    }
    const username = (form.get('username') ?? '').trim().slice(0, 256);
    const password = (form.get('password') ?? '').slice(0, 1024);
    if (!username || !password) {
      return respond.send(reply, page, signInPage(page, await withPasskeys(page, { ...offered(next), username, error: page.locale.t('signIn.missing') })), 400);
    }

    const result = await port.signInWithPassword({ username, password, address: request.ip, knownBrowser: sessions.knownBrowser.get(request) });
    if (result.kind === 'disabled') {
      return respond.send(reply, page, messagePage(page, { title: 'signIn.title', message: page.locale.t('signIn.passwordsOff') }), 403);
    }
    if (result.kind === 'throttled') {
      reply.header('retry-after', String(result.retryAfterSeconds));
      const when = page.locale.relativeTime(page.now + result.retryAfterSeconds * 1000, page.now);
      return respond.send(reply, page, signInPage(page, await withPasskeys(page, { ...offered(next), username, error: page.locale.t('signIn.tooMany', { when }) })), 429);
    }
    if (result.kind === 'failed') {
      return respond.send(reply, page, signInPage(page, await withPasskeys(page, { ...offered(next), username, error: page.locale.t('signIn.failed') })), 401);
    }
    sessions.knownBrowser.set(reply, result.knownBrowser);
    await sessions.signIn(reply, visitor, result.account, { authTime: port.now(), amr: ['pwd'], acr: null });
    return respond.seeOther(reply, target(next === 'consent' && sessions.flow.get(request) ? 'consent' : 'devices'));
  });

  // ------------------------------------------------------------ upstream OpenID providers

  const providerOf = (id: string | undefined) => settings.providers.find((provider) => provider.id === id) ?? null;
  /** The redirect_uri registered at the provider: one per provider (docs/security.md UPSTREAM-MIX-UP). */
  const redirectUriOf = (providerId: string) => `${settings.issuer}${base}/sign-in/${providerId}/callback`;

  /**
   * A failed round trip: a page that says what happened, status 4xx (never 5xx: the failure is
   * the provider's or the request's), and a way back to the sign-in page. The device flow's
   * cookie is untouched, so the person can finish connecting the device afterwards.
   */
  function failed(
    reply: FastifyReply,
    page: PageContext,
    kind: 'denied' | 'unavailable' | 'mismatch' | 'expired' | 'not_allowed',
    next: AfterSignIn,
    provider: string,
  ): FastifyReply {
    const keys = {
      denied: ['upstream.deniedTitle', 'upstream.denied', 403],
      // 424 Failed Dependency (RFC 4918 §11.4): this request failed because the provider did.
      unavailable: ['upstream.unavailableTitle', 'upstream.unavailable', 424],
      mismatch: ['upstream.mismatchTitle', 'upstream.mismatch', 400],
      expired: ['upstream.expiredTitle', 'upstream.expired', 400],
      not_allowed: ['upstream.notAllowedTitle', 'upstream.notAllowed', 403],
    } as const;
    const [title, message, status] = keys[kind];
    return respond.send(
      reply,
      page,
      messagePage(page, { title, message: page.locale.t(message, { provider }), kind: 'warning', link: { href: `${base}/sign-in?next=${next}`, label: 'upstream.tryAgain' } }),
      status,
    );
  }

  scope.post<{ Params: { provider: string } }>('/sign-in/:provider', async (request, reply) => {
    const form = formOf(request);
    const { visitor, page } = await respond.begin(request, reply);
    if (!sessions.csrfValid(visitor, form)) return respond.forbidden(reply, page);
    const provider = providerOf(request.params.provider);
    if (!provider) return reply.callNotFound();
    const next: AfterSignIn = form.get('next') === 'consent' && sessions.flow.get(request) ? 'consent' : 'devices';
    const flow = sessions.upstream.start(reply, visitor, provider.id, next, port.now());
    const started = await port.upstream.begin(provider.id, { redirectUri: redirectUriOf(provider.id), flowSecret: flow.flowSecret });
    if (started.kind !== 'redirect') {
      sessions.upstream.clear(reply);
      return failed(reply, page, 'unavailable', next, provider.label);
    }
    return respond.seeOther(reply, started.url);
  });

  scope.get<{ Params: { provider: string } }>('/sign-in/:provider/callback', async (request, reply) => {
    const { visitor, page } = await respond.begin(request, reply);
    const provider = providerOf(request.params.provider);
    if (!provider) return reply.callNotFound();
    const flow = sessions.upstream.get(request, visitor);
    // One try per round trip: whatever happens next, this browser's flow is spent, so the same
    // callback replayed here finds nothing (docs/security.md UPSTREAM-CALLBACK-REPLAY).
    sessions.upstream.clear(reply);
    const fallbackNext: AfterSignIn = sessions.flow.get(request) ? 'consent' : 'devices';
    // No flow in this browser (a forwarded or replayed link), or one begun for another provider
    // (mix-up): nothing is sent to any provider.
    if (!flow || flow.providerId !== provider.id) return failed(reply, page, 'mismatch', fallbackNext, provider.label);
    if (port.now() - flow.startedAt > settings.upstreamFlowLifetime * 1000) return failed(reply, page, 'expired', flow.next, provider.label);
    const callbackUrl = new URL(request.url, settings.issuer);
    const outcome = await port.upstream.finish(provider.id, { redirectUri: redirectUriOf(provider.id), flowSecret: flow.flowSecret, callbackUrl, address: request.ip });
    if (outcome.kind !== 'signed_in') return failed(reply, page, outcome.kind === 'rejected' ? 'mismatch' : outcome.kind, flow.next, provider.label);
    await sessions.signIn(reply, visitor, outcome.account, { authTime: outcome.authTime, amr: outcome.amr, acr: outcome.acr });
    return respond.seeOther(reply, target(flow.next === 'consent' && sessions.flow.get(request) ? 'consent' : 'devices'));
  });
}
