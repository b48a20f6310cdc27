import type { IncomingMessage } from 'node:http';
import { limitKeyOfAddress } from '../services/network-match.ts';

/**
 * Open push connections counted per address and in total, so one address (or a flood from many)
 * cannot exhaust sockets and memory. Shared shape for the WebSocket and embedded MQTT channels;
 * each channel has its own counter with the same configured limits.
 */
export interface ConnectionLimits {
  /** 'ok', or why this connection is refused. Counts it when ok: call `release` once on close. */
  acquire(address: string): 'ok' | 'total' | 'address';
  release(address: string): void;
  readonly open: number;
}

export function createConnectionLimits(limits: { maxConnections: number; maxConnectionsPerAddress: number }): ConnectionLimits {
  const perAddress = new Map<string, number>();
  let open = 0;
  return {
    // Counted by network like the HTTP limits: an IPv6 /64, an IPv4 /32 (docs/security.md LIMIT-BY-NETWORK).
    acquire(given) {
      const address = limitKeyOfAddress(given);
      if (open >= limits.maxConnections) return 'total';
      const count = perAddress.get(address) ?? 0;
      if (count >= limits.maxConnectionsPerAddress) return 'address';
      perAddress.set(address, count + 1);
      open++;
      return 'ok';
    },
    release(given) {
      const address = limitKeyOfAddress(given);
      const count = perAddress.get(address);
      if (count === undefined) return;
      if (count <= 1) perAddress.delete(address);
      else perAddress.set(address, count - 1);
      open--;
    },
    get open() {
      return open;
    },
  };
}

/**
 * The address limits apply to. Behind a proxy (trustProxy) it is the first X-Forwarded-For entry,
 * as Fastify's request.ip is for the HTTP endpoints, so both channels count the same thing.
 */
export function upgradeAddress(request: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = request.headers['x-forwarded-for'];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return request.socket.remoteAddress ?? 'unknown';
}
