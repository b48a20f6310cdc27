import { lookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { DevicegateError } from '../errors.ts';

/**
 * Fetches a JSON document named by someone else (a client id metadata document) without letting
 * them aim the appliance at what it can reach and they cannot (docs/security.md CIMD-FETCH):
 * - https only; the host must resolve to public unicast addresses only, checked on the address
 *   the socket really connects to (the lookup below), so DNS rebinding between a check and the
 *   connection cannot slip a private address in;
 * - no redirect is followed, anywhere: a document lives at the URL it names as its client id;
 * - at most `maxBytes` (Content-Length and the bytes as they come) and `timeoutMs` for the whole
 *   exchange, so a slow or huge answer costs a bounded moment and a bounded buffer.
 * `allowLoopback` (tests only, explicit in the configuration) also admits http and 127.0.0.1/::1,
 * never the other private ranges.
 */

export class MetadataFetchError extends DevicegateError {
  constructor(message: string) {
    super('metadata_fetch_refused', message);
    this.name = 'MetadataFetchError';
  }
}

export interface MetadataFetchOptions {
  maxBytes: number;
  timeoutMs: number;
  allowLoopback: boolean;
}

/** Why an address may not be fetched from, or null when it is public unicast. */
export function refusedAddress(address: string, allowLoopback: boolean): string | null {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // IPv4-mapped IPv6 (::ffff:10.0.0.1) is judged as the IPv4 address it is.
    parsed = ipaddr.process(address);
  } catch {
    return `${address} is not an IP address`;
  }
  const range = parsed.range();
  if (range === 'unicast') return null;
  if (range === 'loopback' && allowLoopback) return null;
  return `${address} is a ${range} address`;
}

export async function fetchMetadataDocument(url: string, options: MetadataFetchOptions): Promise<Record<string, unknown>> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new MetadataFetchError('the client id is not a URL');
  }
  const plainHttpAllowed = options.allowLoopback && target.protocol === 'http:';
  if (target.protocol !== 'https:' && !plainHttpAllowed) throw new MetadataFetchError('a client metadata document must be served over https');
  if (target.username || target.password) throw new MetadataFetchError('a client id URL carries no credentials');
  const host = target.hostname.replace(/^\[|\]$/g, '');
  // An IP literal is connected to without a lookup: judge it here.
  if (isIP(host)) {
    const refused = refusedAddress(host, options.allowLoopback);
    if (refused) throw new MetadataFetchError(`refused: ${refused}`);
  }

  // Every address the name resolves to must be allowed; the socket then connects to one of them.
  const guardedLookup = (hostname: string, lookupOptions: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    lookup(hostname, { all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error);
      const refused = addresses.map((entry) => refusedAddress(entry.address, options.allowLoopback)).find((reason) => reason !== null);
      if (refused || addresses.length === 0) return callback(new MetadataFetchError(`refused: ${hostname} resolves to ${refused ?? 'nothing'}`));
      if (lookupOptions.all) return callback(null, addresses);
      return callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };

  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | null, value?: Record<string, unknown>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error instanceof MetadataFetchError ? error : new MetadataFetchError(`the document could not be fetched: ${error.message}`));
      else resolve(value!);
    };
    const request = (target.protocol === 'https:' ? https : http).request(
      target,
      { method: 'GET', headers: { accept: 'application/json' }, lookup: guardedLookup as never, agent: false },
      (response) => {
        const status = response.statusCode ?? 0;
        if (status >= 300 && status < 400) {
          response.destroy();
          return finish(new MetadataFetchError(`the document answered a redirect (HTTP ${status}); redirects are not followed`));
        }
        if (status !== 200) {
          response.destroy();
          return finish(new MetadataFetchError(`the document answered HTTP ${status}`));
        }
        if (!/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(response.headers['content-type'] ?? '')) {
          response.destroy();
          return finish(new MetadataFetchError('the document is not application/json'));
        }
        const declared = Number(response.headers['content-length'] ?? NaN);
        if (declared > options.maxBytes) {
          response.destroy();
          return finish(new MetadataFetchError(`the document is larger than ${options.maxBytes} bytes`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxBytes) {
            response.destroy();
            finish(new MetadataFetchError(`the document is larger than ${options.maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('error', (error) => finish(error));
        response.on('end', () => {
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            return finish(new MetadataFetchError('the document is not valid JSON'));
          }
          if (!body || typeof body !== 'object' || Array.isArray(body)) return finish(new MetadataFetchError('the document is not a JSON object'));
          finish(null, body as Record<string, unknown>);
        });
      },
    );
    const timer = setTimeout(() => {
      request.destroy();
      finish(new MetadataFetchError(`the document did not arrive within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    request.on('error', (error) => finish(error));
    request.end();
  });
}
