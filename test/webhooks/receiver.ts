// A real HTTP receiver of webhooks, as an operator's system would run one: it verifies every
// signature with the standardwebhooks library's own verify, deduplicates by webhook-id (how a
// receiver turns at-least-once into once), can fail its first requests, and can go down and come
// back on the same port.
import { createServer, type Server } from 'node:http';
import { Webhook } from 'standardwebhooks';

export interface ReceivedEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
}

export interface Receiver {
  url: string;
  /** Events processed, each id once, in the order first received. */
  processed: ReceivedEvent[];
  /** Every request that carried a valid signature, redeliveries included. */
  requests: number;
  /** Requests refused for a bad signature (never expected). */
  badSignatures: number;
  setSecret(secret: string): void;
  /** The next `count` requests with a valid signature answer 503 (not processed). */
  failNext(count: number): void;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(port = 0): Promise<Receiver> {
  let webhook: Webhook | undefined;
  let failures = 0;
  const seen = new Set<string>();
  const receiver: Receiver = {
    url: '',
    processed: [],
    requests: 0,
    badSignatures: 0,
    setSecret(secret) {
      webhook = new Webhook(secret);
    },
    failNext(count) {
      failures = count;
    },
    down: async () => {},
    up: async () => {},
    close: async () => {},
  };
  let server: Server | undefined;
  const listen = async (at: number) => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let event: { type: string; data: Record<string, unknown> };
        try {
          if (!webhook) throw new Error('no secret yet');
          event = webhook.verify(body, request.headers as Record<string, string>) as typeof event;
        } catch {
          receiver.badSignatures++;
          response.writeHead(400).end();
          return;
        }
        receiver.requests++;
        if (failures > 0) {
          failures--;
          response.writeHead(503).end();
          return;
        }
        const id = request.headers['webhook-id'] as string;
        if (!seen.has(id)) {
          seen.add(id);
          receiver.processed.push({ id, type: event.type, data: event.data });
        }
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(at, '127.0.0.1', () => resolve());
    });
    return (server.address() as { port: number }).port;
  };
  const bound = await listen(port);
  receiver.url = `http://127.0.0.1:${bound}/hooks`;
  const stop = async () => {
    if (!server) return;
    const closing = new Promise<void>((resolve) => server!.close(() => resolve()));
    server.closeAllConnections();
    await closing;
    server = undefined;
  };
  receiver.down = stop;
  receiver.up = async () => {
    await listen(bound);
  };
  receiver.close = stop;
  return receiver;
}

/** The processed events of each grant, by type, in the order they were processed. */
export function typesByGrant(events: ReceivedEvent[]): Map<string, string[]> {
  const byGrant = new Map<string, string[]>();
  for (const event of events) {
    const key = String(event.data.deviceGrantId ?? event.data.grantId ?? '');
    byGrant.set(key, [...(byGrant.get(key) ?? []), event.type]);
  }
  return byGrant;
}
