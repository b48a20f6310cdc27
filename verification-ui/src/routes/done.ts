import type { FastifyInstance } from 'fastify';
import { approvedPage, deniedPage } from '../pages/done.ts';
import { messagePage } from '../pages/message.ts';
import { queryValue, type PagesDependencies, type Responder } from '../respond.ts';

/** Step 4, the outcome, shown only to the person who decided it. */
export function registerDone(scope: FastifyInstance, deps: PagesDependencies, respond: Responder): void {
  const { context } = deps;
  const { store } = context;

  scope.get('/done', async (request, reply) => {
    const { visitor, page } = await respond.begin(request, reply);
    const id = queryValue(request, 'request', 64);
    const deviceGrant = id && visitor.user ? await store.deviceGrants.findById(id) : null;
    if (!deviceGrant || !visitor.user || deviceGrant.userId !== visitor.user.id) {
      return respond.send(reply, page, messagePage(page, { title: 'error.notFoundTitle', message: page.locale.t('error.notFound') }), 404);
    }
    if (deviceGrant.status === 'denied') return respond.send(reply, page, deniedPage(page));
    const client = await store.clients.get(deviceGrant.clientId);
    const device = deviceGrant.deviceName ?? client?.name ?? deviceGrant.clientId;
    return respond.send(reply, page, approvedPage(page, device));
  });
}
