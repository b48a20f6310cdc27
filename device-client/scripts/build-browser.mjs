#!/usr/bin/env node
// Builds the browser bundle of the device client (src/browser/index.ts, from the same core as the
// Node client) as one ES module with esbuild, and FAILS if anything in it imports a Node built-in:
// a browser has none, and a polyfill would hide that the core grew a Node dependency.
//
//   node device-client/scripts/build-browser.mjs [--outfile <file>] [--json] [--entry <file>]
//
// Default output: device-client/dist/devicegate-device-client.browser.js. Prints the raw and
// gzipped sizes (or, with --json, {"outfile","bytes","gzipBytes","inputs"}).
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name) => {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
};
const outfile = path.resolve(option('--outfile') ?? path.join(here, '../dist/devicegate-device-client.browser.js'));
const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));

/** Refuses every Node built-in, whoever imports it, naming both. */
const noNodeBuiltins = {
  name: 'no-node-builtins',
  setup(builder) {
    builder.onResolve({ filter: /.*/ }, (resolveArgs) => {
      const bare = resolveArgs.path.replace(/^node:/, '').split('/')[0];
      if (resolveArgs.path.startsWith('node:') || builtins.has(resolveArgs.path) || (builtins.has(bare) && !resolveArgs.path.startsWith('.'))) {
        return { errors: [{ text: `Node built-in "${resolveArgs.path}" imported by ${path.relative(process.cwd(), resolveArgs.importer)}: the browser build must not use Node built-ins` }] };
      }
      return undefined;
    });
  },
};

let result;
try {
  result = await build({
    entryPoints: [path.resolve(option('--entry') ?? path.join(here, '../src/browser/index.ts'))],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110'],
    minify: true,
    sourcemap: false,
    metafile: true,
    legalComments: 'none',
    logLevel: 'silent',
    plugins: [noNodeBuiltins],
  });
} catch (error) {
  for (const message of error.errors ?? [{ text: String(error) }]) process.stderr.write(`build-browser: ${message.text}\n`);
  process.exit(1);
}
const bytes = readFileSync(outfile);
const gzipBytes = gzipSync(bytes, { level: 9 }).length;
const inputs = Object.keys(result.metafile.inputs);
if (args.includes('--json')) {
  process.stdout.write(`${JSON.stringify({ outfile, bytes: bytes.length, gzipBytes, inputs })}\n`);
} else {
  process.stdout.write(`${path.relative(process.cwd(), outfile)}: ${(bytes.length / 1024).toFixed(1)} KiB, ${(gzipBytes / 1024).toFixed(1)} KiB gzipped, ${inputs.length} modules, no Node built-ins\n`);
}
