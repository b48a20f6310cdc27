// A tiny product site with "enter the code on our website": the person is already signed in to the
// product (here: one fixed account, to keep the example small), types the code their TV shows,
// and the site approves the TV through devicegate's approval API. "Your devices" lists and signs
// out what that person has signed in. node:http and fetch only.
//
// A real site keeps its own sign-in, sessions and CSRF protection in front of these forms; they
// are left out here so the calls to devicegate stand out.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createApprovalClient, type ApprovalApiOptions } from './approval-client.ts';

export interface ProductSiteOptions extends ApprovalApiOptions {
  host?: string;
  port?: number;
  /** The signed-in person, as the product knows them. */
  person: { subject: string; name: string; email: string };
}

export interface ProductSite {
  url: string;
  stop(): Promise<void>;
}

const escape = (text: string) => text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body><h1>${escape(title)}</h1>${body}<p><a href="/">Connect a TV</a> · <a href="/devices">Your devices</a></p></body></html>`;
}

async function formOf(request: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of request) {
    body += chunk;
    if (body.length > 8192) break;
  }
  return new URLSearchParams(body);
}

export async function startProductSite(options: ProductSiteOptions): Promise<ProductSite> {
  const api = createApprovalClient(options);
  const { person } = options;

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const send = (status: number, html: string) => {
      response.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      response.end(html);
    };
    const url = new URL(request.url ?? '/', 'http://site');
    if (request.method === 'GET' && url.pathname === '/') {
      return send(200, page('Connect a TV', `<p>Signed in as ${escape(person.name)}.</p>
<form method="post" action="/connect"><label>Code on your TV <input name="user_code" required></label>
<label><input type="checkbox" name="stay" checked> Keep the TV signed in</label>
<button type="submit">Connect</button></form>`));
    }
    if (request.method === 'POST' && url.pathname === '/connect') {
      const form = await formOf(request);
      const userCode = form.get('user_code') ?? '';
      // What the TV asked for, so the person agrees to what they see.
      const found = await api.lookup(userCode);
      if (!found.ok) {
        const why = found.status === 429 ? 'Too many tries; wait a minute.' : 'That code is not valid. Check the TV and try again.';
        return send(found.status === 429 ? 429 : 400, page('Connect a TV', `<p role="alert">${why}</p>`));
      }
      const requested = found.value.scope.split(' ');
      const scope = requested.filter((name) => name !== 'offline_access' || form.get('stay') === 'on').join(' ');
      const approved = await api.approve({
        userCode,
        subject: person.subject,
        claims: { name: person.name, email: person.email, email_verified: true },
        scope,
      });
      if (!approved.ok) return send(400, page('Connect a TV', '<p role="alert">That code can no longer be used.</p>'));
      return send(200, page('TV connected', `<p>${escape(found.value.device_name ?? found.value.client_name)} is now signed in.</p>`));
    }
    if (request.method === 'GET' && url.pathname === '/devices') {
      const listed = await api.listDevices(person.subject);
      if (!listed.ok) return send(502, page('Your devices', '<p role="alert">Devices cannot be listed right now.</p>'));
      const items = listed.value.devices.map(
        (device) => `<li>${escape(device.device_name ?? device.client_name)}
<form method="post" action="/devices/sign-out"><input type="hidden" name="grant" value="${escape(device.grant_id)}"><button type="submit">Sign out</button></form></li>`,
      );
      return send(200, page('Your devices', items.length ? `<ul>${items.join('')}</ul>` : '<p>No devices.</p>'));
    }
    if (request.method === 'POST' && url.pathname === '/devices/sign-out') {
      const form = await formOf(request);
      const done = await api.signOutDevice(person.subject, form.get('grant') ?? '');
      return send(done.ok ? 200 : 404, page('Your devices', done.ok ? '<p>Signed out.</p>' : '<p role="alert">No such device.</p>'));
    }
    send(404, page('Not found', ''));
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const env = process.env;
  const site = await startProductSite({
    devicegateUrl: env.DEVICEGATE_URL ?? 'http://127.0.0.1:8080',
    clientId: env.PRODUCT_CLIENT_ID ?? 'product-site',
    clientSecret: env.PRODUCT_CLIENT_SECRET ?? '',
    host: env.PRODUCT_HOST ?? '127.0.0.1',
    port: Number(env.PRODUCT_PORT ?? 3001),
    person: { subject: env.PRODUCT_SUBJECT ?? 'customer-42', name: 'Ada Lovelace', email: 'ada@example.com' },
  });
  process.stdout.write(`product site on ${site.url}\n`);
}
