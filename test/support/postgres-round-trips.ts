// A counting TCP proxy between the appliance and a real PostgreSQL server: it forwards every byte
// unchanged and reads the two streams as the frontend/backend protocol
// (https://www.postgresql.org/docs/current/protocol-flow.html) to count round trips. One round
// trip is one ReadyForQuery ('Z') from the server: the server sends exactly one per simple Query
// ('Q', however many statements it holds) and one per extended-query Sync ('S'), so it counts the
// times a client waited for the database to answer, whatever the statements. The ReadyForQuery
// that ends a connection's start-up is counted apart (`connections`), not as a round trip.
//
//   const proxy = await startRoundTripProxy(postgres.port);
//   appliance on proxy.urlFor(postgres.url) ...
//   const mark = proxy.mark(); ...request...; const trips = await proxy.since(mark);
//
// For tests and the bench ("N round trips per device authorization"); never a mock: the server
// behind it is real, and a connection whose bytes the proxy cannot read (TLS) is only forwarded.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** What a client sent for one round trip: the SQL of each Query, or of each Parse before the Sync. */
export interface RoundTrip {
  /** The statements' text, in the order sent (of a named prepared statement reused, the text it was prepared with). */
  sql: string[];
  /** Milliseconds since the proxy started, when the server's ReadyForQuery passed. */
  at: number;
}

export interface RoundTripCounts {
  /** ReadyForQuery messages after start-up: one per simple Query or extended-query Sync. */
  roundTrips: number;
  /** Connections opened (each has one start-up exchange, not counted above). */
  connections: number;
  /** The round trips themselves, oldest first (for a failure message that says which statements). */
  trips: RoundTrip[];
}

export interface Mark {
  readonly roundTrips: number;
  readonly connections: number;
}

export interface RoundTripProxy {
  /** The proxy's port on 127.0.0.1. */
  port: number;
  /** `url` (a postgres:// URL of the real server) pointed at the proxy instead. */
  urlFor(url: string): string;
  /** Totals since the proxy started. */
  totals(): RoundTripCounts;
  /** A point to count from. */
  mark(): Mark;
  /**
   * Round trips since `mark`, once the wire has been quiet for `quietMs` (default 100): work an
   * answer left behind (an audit row written after the response) is counted with it.
   */
  since(mark: Mark, options?: { quietMs?: number; timeoutMs?: number }): Promise<RoundTripCounts>;
  /** Counts since the previous call of take() (or the start) and starts a new interval; for per-interval reports. */
  take(): RoundTripCounts;
  /** Resolves once no byte has passed either way for quietMs. */
  quiet(quietMs?: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Protocol codes of the start-up packets that have no type byte (protocol-message-formats). */
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

export async function startRoundTripProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<RoundTripProxy> {
  const started = Date.now();
  const trips: RoundTrip[] = [];
  let connections = 0;
  let lastTraffic = Date.now();
  let taken: Mark = { roundTrips: 0, connections: 0 };
  const sockets = new Set<Socket>();

  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: targetHost, port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);

    /** SQL sent since the last Sync or Query, per connection. */
    const pending: string[][] = [];
    let current: string[] = [];
    /** Named prepared statements' text, so a Bind of one reused names its SQL. */
    const prepared = new Map<string, string>();
    let readable = true; // false once the connection switched to TLS or GSS encryption
    let startedUp = false; // the first ReadyForQuery ends start-up
    let clientStartup = true; // the client's first packet (and one after an SSL refusal) has no type byte
    let expectSingleByte = false; // the server answers SSLRequest/GSSENCRequest with one byte

    const fromClient = messageReader(
      () => clientStartup,
      (type, body) => {
        if (type === null) {
          const code = body.readInt32BE(0);
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) expectSingleByte = true;
          else clientStartup = false;
          if (code === CANCEL_REQUEST) readable = false;
          return;
        }
        if (type === 'Q') {
          current.push(cString(body, 0));
          pending.push(current);
          current = [];
        } else if (type === 'P') {
          const name = cString(body, 0);
          const sql = cString(body, Buffer.byteLength(name) + 1);
          if (name) prepared.set(name, sql);
          current.push(sql);
        } else if (type === 'B') {
          // Bind: portal name, then statement name; a Parse just before it already named the SQL.
          const portal = cString(body, 0);
          const statement = cString(body, Buffer.byteLength(portal) + 1);
          if (statement && current.length === 0) current.push(prepared.get(statement) ?? `(prepared ${statement})`);
        } else if (type === 'S') {
          pending.push(current);
          current = [];
        }
      },
    );
    const fromServer = messageReader(
      () => false,
      (type) => {
        if (type !== 'Z') return;
        if (!startedUp) {
          startedUp = true;
          connections++;
          return;
        }
        trips.push({ sql: pending.shift() ?? [], at: Date.now() - started });
      },
    );

    client.on('data', (chunk: Buffer) => {
      lastTraffic = Date.now();
      if (readable) fromClient(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      lastTraffic = Date.now();
      if (readable && expectSingleByte) {
        expectSingleByte = false;
        // 'N': the client goes on in the clear with a new start-up packet; 'S'/'G': encrypted from here.
        if (chunk[0] !== 0x4e) readable = false;
        if (readable) fromServer(chunk.subarray(1));
      } else if (readable) fromServer(chunk);
      client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('round-trip proxy: no TCP address');

  const mark = (): Mark => ({ roundTrips: trips.length, connections });
  const countsSince = (from: Mark): RoundTripCounts => ({
    roundTrips: trips.length - from.roundTrips,
    connections: connections - from.connections,
    trips: trips.slice(from.roundTrips),
  });

  async function quiet(quietMs = 100, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const idle = Date.now() - lastTraffic;
      if (idle >= quietMs) return;
      if (Date.now() > deadline) throw new Error(`round-trip proxy: the wire was not quiet for ${quietMs} ms within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, quietMs - idle + 1));
    }
  }

  return {
    port: address.port,
    urlFor(url) {
      const target = new URL(url);
      target.hostname = '127.0.0.1';
      target.port = String(address.port);
      return target.toString();
    },
    totals: () => countsSince({ roundTrips: 0, connections: 0 }),
    mark,
    async since(from, options = {}) {
      await quiet(options.quietMs, options.timeoutMs);
      return countsSince(from);
    },
    take() {
      const counts = countsSince(taken);
      taken = mark();
      return counts;
    },
    quiet,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Splits a byte stream into protocol messages: a type byte and an Int32 length (which counts
 * itself), or, while `untyped()` says so, a start-up packet with only the length.
 */
function messageReader(untyped: () => boolean, onMessage: (type: string | null, body: Buffer) => void): (chunk: Buffer) => void {
  let buffered: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
    let offset = 0;
    for (;;) {
      const typed = !untyped();
      const header = typed ? 5 : 4;
      if (buffered.length - offset < header) break;
      const length = buffered.readInt32BE(offset + (typed ? 1 : 0));
      const total = (typed ? 1 : 0) + length;
      if (buffered.length - offset < total) break;
      const type = typed ? String.fromCharCode(buffered[offset]!) : null;
      onMessage(type, buffered.subarray(offset + header, offset + total));
      offset += total;
    }
    buffered = offset === buffered.length ? Buffer.alloc(0) : buffered.subarray(offset);
  };
}

function cString(buffer: Buffer, start: number): string {
  const end = buffer.indexOf(0, start);
  return buffer.toString('utf8', start, end < 0 ? buffer.length : end);
}
