import { dummyPasswordHash, verifyPassword } from '@devicegate/server/passwords';
import type { FastifyInstance } from 'fastify';
import { signInPage, type AfterSignIn } from '../pages/sign-in.ts';
import { formOf, queryValue, type PagesDependencies, type Responder } from '../respond.ts';
import { consumeAll } from './limits.ts';

/** Step 2, a local account; throttled per account and per address. */
export function registerSignIn(scope: FastifyInstance, deps: PagesDependencies, respond: Responder): void {
  const { context, sessions, base } = deps;
  const { store, audit, rateLimits } = context;
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

    const account = username.toLowerCase();
    const wait = await consumeAll(rateLimits, [['signInPerAddress', request.ip], ['signInPerAccount', account]], request.ip);
    if (wait !== null) {
      reply.header('retry-after', String(wait));
      const when = page.locale.relativeTime(page.now + wait * 1000, page.now);
      return respond.send(reply, page, signInPage(page, { next, username, error: page.locale.t('signIn.tooMany', { when }) }), 429);
    }

    const user = await store.users.getByUsername(username);
    const usable = user !== null && !user.disabled;
    // An unknown or disabled account still costs one argon2 verification, so the answer's timing
    // does not tell which usernames exist.
    const passwordMatches = await verifyPassword(usable ? user.passwordHash : await dummyPasswordHash(), password);
    if (!usable || !passwordMatches) {
      audit.record('sign_in_failed', { address: request.ip, userId: user?.id ?? null });
      return respond.send(reply, page, signInPage(page, { next, username, error: page.locale.t('signIn.failed') }), 401);
    }
    await rateLimits.reset('signInPerAccount', account);
    await sessions.signIn(reply, visitor, user);
    audit.record('sign_in_succeeded', { address: request.ip, userId: user.id });
    return respond.seeOther(reply, target(next === 'consent' && sessions.flow.get(request) ? 'consent' : 'devices'));
  });
}
