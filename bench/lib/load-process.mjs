// One load generator (autocannon) in a process of its own, so it never shares a core's event
// loop with the server it measures. Reads its job from the JSON file named by its argument and
// prints one JSON line.
//
// Jobs:
//   { kind: 'fixed', url, method, headers, body }             the same request again and again
//   { kind: 'bodies', url, headers, bodies: [...] }             POSTs, bodies taken round-robin across
//                                                               all connections (pending polls of many codes)
//   { kind: 'refresh', url, tokens, warmupTokens, clientId }   one refresh-token chain per connection:
//                                                               each answer's rotated token is the next request's
// Common: connections, durationSeconds, warmupSeconds.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const form = { 'content-type': 'application/x-www-form-urlencoded' };

function requests(phase) {
  if (job.kind === 'fixed') return [{ method: job.method ?? 'GET', headers: job.headers, body: job.body }];
  if (job.kind === 'bodies') {
    let next = 0;
    return [{ method: 'POST', headers: { ...form, ...job.headers }, setupRequest: (request) => ({ ...request, body: job.bodies[next++ % job.bodies.length] }) }];
  }
  if (job.kind === 'refresh') {
    // A pool of live refresh tokens, one per connection: a request takes one, its answer puts the
    // rotated one back (autocannon clears per-connection context between requests, so a pool it
    // is). The warm-up has a pool of its own: an answer in flight when a run stops is lost, and
    // reusing the token it replaced would, rightly, revoke the whole chain (RFC 9700 §4.14.2).
    const pool = [...(phase === 'warmup' ? job.warmupTokens : job.tokens)];
    return [
      {
        method: 'POST',
        headers: form,
        setupRequest(request) {
          const token = pool.shift() ?? 'pool-ran-dry';
          return { ...request, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token, client_id: job.clientId }).toString() };
        },
        onResponse(status, body) {
          if (status !== 200) return;
          try {
            const rotated = JSON.parse(body).refresh_token;
            if (typeof rotated === 'string') pool.push(rotated);
          } catch {
            // counted as a non-2xx or error by autocannon already
          }
        },
      },
    ];
  }
  throw new Error(`unknown job kind ${job.kind}`);
}

function run(options) {
  return new Promise((resolve, reject) => {
    autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

const base = { url: job.url, connections: job.connections ?? 50, pipelining: 1, timeout: 10 };
const warmup = job.warmupSeconds ? await run({ ...base, duration: job.warmupSeconds, requests: requests('warmup') }) : null;
const result = await run({ ...base, duration: job.durationSeconds ?? 8, requests: requests('measure') });
const seconds = result.duration;
process.stdout.write(
  `${JSON.stringify({
    requestsPerSecond: result.requests.total / seconds,
    total: result.requests.total,
    // Every request the server answered, warm-up included (for its CPU time per request).
    sent: result.requests.total + (warmup?.requests.total ?? 0),
    seconds,
    latency: { p50: result.latency.p50, p97_5: result.latency.p97_5, p99: result.latency.p99, max: result.latency.max },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes: result.statusCodeStats,
  })}\n`,
);
