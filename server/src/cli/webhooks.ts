import { type Command, InvalidArgumentError } from 'commander';
import { openSealer } from '../appliance.ts';
import { randomId } from '../secrets.ts';
import { newWebhookSecret, sendWebhook } from '../webhooks/dispatcher.ts';
import { WEBHOOK_EVENT_TYPES, webhookEvent } from '../webhooks/events.ts';
import type { StateHelpers } from './audit.ts';
import { CliError, table, type CliIo } from './output.ts';

const iso = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));

/** https, or http to loopback only: a webhook carries security events (docs/deploy.md#metrics-traces-and-webhooks). */
function receiverUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('must be a URL');
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new InvalidArgumentError('must be an https:// URL (http only for localhost)');
  return url.href;
}

function eventList(value: string): string[] {
  const events = value.split(/[,\s]+/).filter(Boolean);
  for (const event of events) {
    if (event !== '*' && !WEBHOOK_EVENT_TYPES.includes(event)) throw new InvalidArgumentError(`unknown event "${event}" (use ${WEBHOOK_EVENT_TYPES.join(', ')} or *)`);
  }
  if (events.length === 0) throw new InvalidArgumentError('name at least one event, or *');
  return events;
}

/** `devicegate webhooks add|list|remove|test|dead-letters`: receivers of grant and security events. */
export function registerWebhookCommands(program: Command, io: CliIo, helpers: StateHelpers): void {
  const webhooks = program.command('webhooks').description('webhooks for grant and security events (Standard Webhooks signatures)');

  helpers
    .addStateOptions(webhooks.command('add').description('add a receiver; prints its id and signing secret once'))
    .argument('<url>', 'where events are POSTed', receiverUrl)
    .option('--events <list>', `event types (comma separated) or * for all: ${WEBHOOK_EVENT_TYPES.join(', ')}`, eventList, ['*'])
    .action(async (url: string, options: Record<string, unknown>) =>
      helpers.withStore(io, options, async (store, config) => {
        const secret = newWebhookSecret();
        const id = `wh_${randomId()}`;
        await store.webhooks.addEndpoint({ id, url, sealedSecret: openSealer(config).seal(secret), events: options.events as string[], createdAt: Date.now() });
        io.stdout(`webhook ${id} added for ${(options.events as string[]).join(',')}\nsigning secret (shown once; verify with any Standard Webhooks library): ${secret}\n`);
      }),
    );

  helpers
    .addStateOptions(webhooks.command('list').description('list receivers'))
    .option('--json', 'JSON output')
    .action(async (options: Record<string, unknown>) =>
      helpers.withStore(io, options, async (store) => {
        const all = (await store.webhooks.listEndpoints()).map(({ sealedSecret: _secret, ...endpoint }) => endpoint);
        if (options.json) {
          io.stdout(`${JSON.stringify(all, null, 2)}\n`);
          return;
        }
        io.stdout(table(all.map((endpoint) => ({ id: endpoint.id, url: endpoint.url, events: endpoint.events.join(','), created: iso(endpoint.createdAt) }))));
      }),
    );

  helpers
    .addStateOptions(webhooks.command('remove').description('remove a receiver and its undelivered events'))
    .argument('<id>')
    .action(async (id: string, options: Record<string, unknown>) =>
      helpers.withStore(io, options, async (store) => {
        if (!(await store.webhooks.removeEndpoint(id))) throw new CliError(`no webhook "${id}"`, 1);
        io.stdout(`webhook ${id} removed\n`);
      }),
    );

  helpers
    .addStateOptions(webhooks.command('test').description('send a signed webhook.test event to a receiver now and print its answer'))
    .argument('<id>')
    .action(async (id: string, options: Record<string, unknown>) =>
      helpers.withStore(io, options, async (store, config) => {
        const endpoint = (await store.webhooks.listEndpoints()).find((candidate) => candidate.id === id);
        if (!endpoint) throw new CliError(`no webhook "${id}"`, 1);
        const event = webhookEvent('webhook.test', { webhook: id }, Date.now());
        const attempt = await sendWebhook(
          { url: endpoint.url, secret: openSealer(config).unseal(endpoint.sealedSecret) },
          { id: `msg_test_${randomId()}`, payload: event.payload },
          config.webhooks.timeout,
        );
        if (!attempt.ok) throw new CliError(`webhook ${id}: ${endpoint.url} answered ${attempt.result}`, 1);
        io.stdout(`webhook ${id}: ${endpoint.url} answered ${attempt.result}\n`);
      }),
    );

  helpers
    .addStateOptions(webhooks.command('dead-letters').description('deliveries that gave up after webhooks.maxAttempts, newest first'))
    .option('-n, --lines <count>', 'how many', (value) => {
      if (!/^\d+$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError('must be a positive whole number');
      return Number(value);
    }, 100)
    .option('--json', 'JSON output')
    .action(async (options: Record<string, unknown>) =>
      helpers.withStore(io, options, async (store) => {
        const dead = await store.webhooks.listDeadLetters(options.lines as number);
        if (options.json) {
          io.stdout(`${JSON.stringify(dead.map(({ leaseOwner: _owner, leaseUntil: _lease, ...delivery }) => delivery), null, 2)}\n`);
          return;
        }
        io.stdout(
          table(
            dead.map((delivery) => ({
              id: delivery.id,
              webhook: delivery.endpointId,
              event: delivery.eventType,
              created: iso(delivery.createdAt),
              gave_up: iso(delivery.deadAt),
              attempts: String(delivery.attempts),
              last_error: delivery.lastError ?? '',
            })),
          ),
        );
      }),
    );
}
