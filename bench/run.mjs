#!/usr/bin/env node
// `npm run bench`: see bench/lib/main.ts (and bench/README.md). TypeScript runs through tsx, so a
// fresh clone needs no build step. Flags: --duration S --warmup S --connections N
// --push-devices 1000,10000 --samples K --only bare,appliance,peer,device-client,push,push-reference,postgres
// --endpoints jwks,device-authorization,polls,refresh,introspection,userinfo --time-limit S
import { register } from 'tsx/esm/api';

register();
await import('./lib/main.ts');
