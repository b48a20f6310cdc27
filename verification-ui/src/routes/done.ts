import type { FastifyInstance } from 'fastify';
import { approvedPage, deniedPage } from '../pages/done.ts';
import { messagePage } from '../pages/message.ts';
import { queryValue, type PagesDependencies, type Responder } from '../respond.ts';

/** Step 4, the outcome, shown only to the person who decided it. */
export function registerDone(scope: FastifyInstance, deps: PagesDependencies, respond: Responder): void {
  const { port } = deps;

  scope.get('/done', async (request, reply) => {
    const { visitor, page } = await respond.begin(request, reply);
    const id = queryValue(request, 'request', 64);
    const decided = id && visitor.user ? await port.findDecidedRequest(id, visitor.user) : null;
    if (!decided) {
      return respond.send(reply, page, messagePage(page, { title: 'error.notFoundTitle', message: page.locale.t('error.notFound') }), 404);
    }
    if (decided.status === 'denied') return respond.send(reply, page, deniedPage(page));
    return respond.send(reply, page, approvedPage(page, decided.deviceLabel));
  });
}
