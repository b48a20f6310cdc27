#!/usr/bin/env node
// `npm run bench:observability`: what Prometheus metrics and OpenTelemetry tracing cost on device
// authorization and polls, off against on, in one run (see bench/lib/observability.ts).
// Flags: --rounds N --duration S --warmup S --connections N
import { register } from 'tsx/esm/api';

register();
await import('./lib/observability.ts');
