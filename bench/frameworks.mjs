#!/usr/bin/env node
// `npm run bench:frameworks`: bare node:http, Fastify and express answering one hello-world, in
// the same run (see bench/lib/frameworks.ts). Flags: --rounds N --duration S --warmup S --connections N
import { register } from 'tsx/esm/api';

register();
await import('./lib/frameworks.ts');
