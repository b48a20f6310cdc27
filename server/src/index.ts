/** Public API of the appliance package, for embedding and for tests. */
export { createApp } from './app.js';
export { createAppContext, startAppliance, openStore, type Appliance, type ApplianceDependencies } from './appliance.js';
export { loadConfig, configSchema, ConfigError, type Config, type ConfigInput } from './config.js';
export { createManualClock, systemClock, type Clock } from './clock.js';
export type { AppContext } from './context.js';
export type { ApplianceModule } from './modules.js';
export { defaultModules } from './default-modules.js';
export { createSqliteStore } from './store/sqlite/sqlite-store.js';
export type * from './store/types.js';
export { hashPassword } from './passwords.js';
export { DEMO_CLIENT_ID, DEMO_USERNAME, defaultClient } from './services/bootstrap.js';
export { DEVICE_CODE_GRANT_TYPE } from './grants/index.js';
export { paths } from './endpoints/paths.js';
