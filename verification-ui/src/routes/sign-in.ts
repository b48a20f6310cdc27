import type { FastifyInstance } from 'fastify';
import { signInPage, type AfterSignIn } from '../pages/sign-in.ts';
import { formOf, queryValue, type PagesDependencies, type Responder } from '../respond.ts';

/** Step 2, a local account; throttled per account and per address. */
export function registerSignIn(scope: FastifyInstance, deps: PagesDependencies, respond: Responder): void {
  const { port, sessions, base } = deps;
  const target = (next: AfterSignIn) => `${base}/${next}`;

  scope.get('/sign-in', async (request, reply) => {
    const { visitor, page } = await respond.begin(request, reply);
    const next: AfterSignIn = queryValue(request, 'next') === 'consent' && sessions.flow.get(request) ? 'consent' : 'devices';
    if (visitor.user) return respond.seeOther(reply, target(next));
    return respond.send(reply, page, signInPage(page, { next }));
  });

  scope.post('/sign-in', async (request, reply) => {
    const form = formOf(request);
    const { visitor, page } = await respond.begin(request, reply);
    if (!sessions.csrfValid(visitor, form)) return respond.forbidden(reply, page);
    const next: AfterSignIn = form.get('next') === 'consent' ? 'consent' : 'devices';
    const username = (form.get('username') ?? '').trim().slice(0, 256);
    const password = (form.get('password') ?? '').slice(0, 1024);
    if (!username || !password) {
      return respond.send(reply, page, signInPage(page, { next, username, error: page.locale.t('signIn.missing') }), 400);
    }

    const result = await port.signInWithPassword({ username, password, address: request.ip, knownBrowser: sessions.knownBrowser.get(request) });
    if (result.kind === 'throttled') {
      reply.header('retry-after', String(result.retryAfterSeconds));
      const when = page.locale.relativeTime(page.now + result.retryAfterSeconds * 1000, page.now);
      return respond.send(reply, page, signInPage(page, { next, username, error: page.locale.t('signIn.tooMany', { when }) }), 429);
    }
    if (result.kind === 'failed') {
      return respond.send(reply, page, signInPage(page, { next, username, error: page.locale.t('signIn.failed') }), 401);
    }
    sessions.knownBrowser.set(reply, result.knownBrowser);
    await sessions.signIn(reply, visitor, result.account, port.now());
    return respond.seeOther(reply, target(next === 'consent' && sessions.flow.get(request) ? 'consent' : 'devices'));
  });
}
