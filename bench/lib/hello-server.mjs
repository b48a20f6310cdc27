// The reference: a server answering a small JSON document, with nothing else. BENCH_SERVER picks
// what answers it: `node` (default) is a bare Node http server, the figure every other figure of
// the bench is put beside; `fastify` and `express` are those frameworks in their default
// configuration, one GET route each, for the comparison in frameworks.ts. The same body and
// headers either way, plus what a framework adds by default (express: ETag and X-Powered-By;
// Fastify: nothing).
import { createServer } from 'node:http';

const body = JSON.stringify({ status: 'ok', service: 'bare-node-http' });
const headers = { 'content-type': 'application/json', 'cache-control': 'no-store' };
const kind = process.env.BENCH_SERVER ?? 'node';

async function listen() {
  if (kind === 'fastify') {
    const { default: Fastify } = await import('fastify');
    const app = Fastify({ logger: false, keepAliveTimeout: 5000 });
    app.get('/', async (_request, reply) => reply.headers(headers).send(body));
    await app.listen({ host: '127.0.0.1', port: 0 });
    return app.server;
  }
  let handler;
  if (kind === 'express') {
    const { default: express } = await import('express');
    const app = express();
    app.get('/', (_request, response) => response.set(headers).send(body));
    handler = app;
  } else if (kind === 'node') {
    handler = (request, response) => {
      // A POST body is read to its end, as a real endpoint must.
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { ...headers, 'content-length': Buffer.byteLength(body) });
        response.end(body);
      });
    };
  } else {
    throw new Error(`BENCH_SERVER must be node, fastify or express, not ${kind}`);
  }
  const server = createServer(handler);
  server.keepAliveTimeout = 5000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const server = await listen();
process.send?.({ type: 'ready', url: `http://127.0.0.1:${server.address().port}`, server: kind });
process.on('disconnect', () => server.close(() => process.exit(0)));
process.on('message', (message) => {
  if (message.type === 'cpu') {
    const usage = process.cpuUsage();
    process.send({ type: 'cpu', micros: usage.user + usage.system });
  }
  if (message.type === 'stop') {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});
