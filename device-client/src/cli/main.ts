import { runCli } from './program.ts';

/**
 * Entry point of `devicegate-device` (bin/devicegate-device.js, and the single executable's
 * bundle). No top-level await, so the same file bundles to CommonJS for Node's SEA.
 */
const controller = new AbortController();
let interrupts = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupts += 1;
    if (interrupts > 1) process.exit(130); // a second Ctrl-C does not wait for a clean stop
    controller.abort(new Error(`interrupted by ${signal}`));
  });
}

runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: controller.signal,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`devicegate-device: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
