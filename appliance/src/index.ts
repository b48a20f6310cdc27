/**
 * The assembled appliance: the OAuth server with its verification pages and push channels, as
 * `devicegate serve` runs it. Embed it with `startAppliance(config, { modules: defaultModules })`.
 */
export { defaultModules } from './modules.ts';
export { runServe } from './serve.ts';
