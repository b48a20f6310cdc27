import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * The stylesheet and the small script, read once from this package and served from memory.
 * Their URLs carry a hash of the content, so they can be cached for a year and a new version is
 * still fetched at once.
 */
export interface Asset {
  body: Buffer;
  contentType: string;
  version: string;
}

const FILES: Record<string, string> = {
  'app.css': 'text/css; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
};

export function loadAssets(directory: URL = new URL('./assets/', import.meta.url)): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [name, contentType] of Object.entries(FILES)) {
    const body = readFileSync(new URL(name, directory));
    assets.set(name, { body, contentType, version: createHash('sha256').update(body).digest('base64url').slice(0, 12) });
  }
  return assets;
}

export const IMMUTABLE = 'public, max-age=31536000, immutable';
