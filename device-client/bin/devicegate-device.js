#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx. The single executable (npm run build:device)
// needs no tsx: it carries a bundle of the same code.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
