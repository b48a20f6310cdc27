// Everything this example takes from devicegate, in one place: should the composition move again,
// this file is the one to change.
export { loadConfig, paths, startAppliance, type Appliance, type ConfigInput } from '@devicegate/server';
export { defaultModules } from '@devicegate/appliance';
