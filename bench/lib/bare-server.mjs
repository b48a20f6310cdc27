// The reference: a bare Node http server answering a small JSON document, with nothing else.
// Every figure of the bench is put beside what this does on the same machine in the same run.
import { createServer } from 'node:http';

const body = JSON.stringify({ status: 'ok', service: 'bare-node-http' });
const server = createServer((request, response) => {
  // A POST body is read to its end, as a real endpoint must.
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    response.end(body);
  });
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', url: `http://127.0.0.1:${server.address().port}` });
});
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
