import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

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
  'passkeys.js': 'text/javascript; charset=utf-8',
};

/**
 * @simplewebauthn/browser's own browser bundle (a UMD file that defines SimpleWebAuthnBrowser),
 * served from here like our files: the CSP allows scripts from 'self' only, never a CDN. The
 * package exports no path to it, so it is found beside the package's entry point.
 */
function webauthnBrowserBundle(): Buffer {
  const entry = createRequire(import.meta.url).resolve('@simplewebauthn/browser');
  let directory = path.dirname(entry);
  while (path.basename(directory) !== 'browser' && path.dirname(directory) !== directory) directory = path.dirname(directory);
  return readFileSync(path.join(directory, 'dist', 'bundle', 'index.umd.min.js'));
}

const version = (body: Buffer) => createHash('sha256').update(body).digest('base64url').slice(0, 12);

export function loadAssets(directory: URL = new URL('./assets/', import.meta.url)): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [name, contentType] of Object.entries(FILES)) {
    const body = readFileSync(new URL(name, directory));
    assets.set(name, { body, contentType, version: version(body) });
  }
  const webauthn = webauthnBrowserBundle();
  assets.set('webauthn.js', { body: webauthn, contentType: 'text/javascript; charset=utf-8', version: version(webauthn) });
  return assets;
}

/**
 * The branded stylesheet (config branding), generated once: custom properties over app.css's, in a
 * file of this origin, so colours need no inline style and the CSP's style-src stays 'self'. The
 * values were checked as #rrggbb by the configuration, so nothing else can reach the CSS.
 */
export function brandStylesheet(branding: { primaryColor: string | null; onPrimaryColor: string | null; headerColor: string | null }): Asset {
  const properties = [
    branding.primaryColor && `--accent: ${branding.primaryColor}; --accent-hover: ${branding.primaryColor}; --focus: ${branding.primaryColor}; --info-edge: ${branding.primaryColor};`,
    branding.onPrimaryColor && `--accent-fg: ${branding.onPrimaryColor};`,
    branding.headerColor && `--header-bg: ${branding.headerColor};`,
  ].filter(Boolean);
  // The same in both schemes: a brand colour is the brand's in dark mode too.
  const css = properties.length === 0 ? '' : `:root { ${properties.join(' ')} }\n@media (prefers-color-scheme: dark) { :root { ${properties.join(' ')} } }\n`;
  const body = Buffer.from(css, 'utf8');
  return { body, contentType: 'text/css; charset=utf-8', version: createHash('sha256').update(body).digest('base64url').slice(0, 12) };
}

const LOGO_TYPES: Record<string, string> = { '.png': 'image/png', '.svg': 'image/svg+xml', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp' };

/** The logo file devicegate serves itself (config branding.logoFile), read once at start. */
export function logoAsset(file: string): Asset {
  const extension = file.slice(file.lastIndexOf('.')).toLowerCase();
  const contentType = LOGO_TYPES[extension];
  if (!contentType) throw new Error(`branding.logoFile must be a .png, .svg, .jpg or .webp file: ${file}`);
  const body = readFileSync(file);
  return { body, contentType, version: createHash('sha256').update(body).digest('base64url').slice(0, 12) };
}

export const IMMUTABLE = 'public, max-age=31536000, immutable';
