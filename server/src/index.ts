/** Public API of the appliance package, for embedding and for tests. */
export { createApp } from './app.ts';
export { createAppContext, startAppliance, openStore, type Appliance, type ApplianceDependencies } from './appliance.ts';
export { loadConfig, configSchema, ConfigError, type Config, type ConfigInput } from './config.ts';
export { createManualClock, systemClock, type Clock } from './clock.ts';
export type { AppContext } from './context.ts';
export type { ApplianceModule, AuthorizedGrant } from './modules.ts';
export { buildProgram, runProgram, type ServeCommand } from './cli/program.ts';
export { CliError, type CliIo } from './cli/output.ts';
export { createSqliteStore } from './store/sqlite/sqlite-store.ts';
export type * from './store/types.ts';
export { hashPassword } from './passwords.ts';
export { DEMO_CLIENT_ID, DEMO_USERNAME, defaultClient } from './services/bootstrap.ts';
export { DEVICE_CODE_GRANT_TYPE } from './grants/index.ts';
export { paths } from './endpoints/paths.ts';
export { createVerificationPort } from './ports/verification.ts';
export type * from './ports/verification.ts';
export { createMetricsModule, METRICS_PATH } from './observability/metrics-listener.ts';
export { createPrometheusMetrics, noMetrics, type Metrics } from './observability/metrics.ts';
