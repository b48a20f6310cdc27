import type { FastifyInstance } from 'fastify';
import { formOf, type PagesDependencies, type Responder } from '../respond.ts';

/** Signs this browser out (the session row goes; a fresh anonymous cookie replaces it). */
export function registerSignOut(scope: FastifyInstance, deps: PagesDependencies, respond: Responder): void {
  const { sessions } = deps;
  scope.post('/sign-out', async (request, reply) => {
    const form = formOf(request);
    const { visitor, page } = await respond.begin(request, reply);
    if (!sessions.csrfValid(visitor, form)) return respond.forbidden(reply, page);
    await sessions.signOut(reply, visitor);
    sessions.flow.clear(reply);
    return respond.seeOther(reply, `${respond.home}?notice=signed-out`);
  });
}
