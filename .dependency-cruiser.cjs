/**
 * The layers of devicegate, checked by `npm test` (test/architecture/layers.test.ts) and by
 * `npx depcruise -c .dependency-cruiser.cjs protocol server verification-ui appliance device-client simulators`.
 * docs/architecture.md draws them:
 *
 *   protocol  <-  server (core  <-  push)  <-  verification-ui  <-  appliance (composition)
 *   protocol  <-  device-client  <-  simulators
 *
 * An arrow points at what a layer may import. Type-only imports count: a cycle of types is still
 * a cycle a reader has to untangle.
 */
const packages = '^(protocol|server|verification-ui|appliance|device-client|simulators)/';

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'No import cycle anywhere: not between packages, not inside one.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'protocol-imports-nothing-of-ours',
      comment: 'protocol/ holds the shapes both ends share; it depends on no other package of ours.',
      severity: 'error',
      from: { path: '^protocol/' },
      to: { path: packages, pathNot: '^protocol/' },
    },
    {
      name: 'server-below-pages-and-composition',
      comment: 'The server knows neither the pages nor the composition nor the device side.',
      severity: 'error',
      from: { path: '^server/' },
      to: { path: '^(verification-ui|appliance|device-client|simulators)/' },
    },
    {
      name: 'server-core-below-push',
      comment: 'Push channels plug into the core through the module interface (server/src/modules.ts); the core never imports a channel.',
      severity: 'error',
      from: { path: '^server/src/', pathNot: '^server/src/push/' },
      to: { path: '^server/src/push/' },
    },
    {
      name: 'pages-through-their-port',
      comment: 'The verification pages use the server through its public entry points (the port, shared types and helpers), never its store, context or endpoints directly.',
      severity: 'error',
      from: { path: '^verification-ui/' },
      to: { path: '^server/src/(store|context|appliance|app|endpoints|grants|tokens|services|push|device-grants/(decisions|authorize|expiry))' },
    },
    {
      name: 'pages-below-composition',
      severity: 'error',
      from: { path: '^verification-ui/' },
      to: { path: '^(appliance|device-client|simulators)/' },
    },
    {
      name: 'device-client-on-protocol-only',
      comment: 'The device client could be published alone: of ours it depends on protocol/ only.',
      severity: 'error',
      from: { path: '^device-client/' },
      to: { path: packages, pathNot: '^(device-client|protocol)/' },
    },
    {
      name: 'device-client-core-runs-anywhere',
      comment: 'device-client/src/core/ is the protocol core of both runtimes: no Node built-in, and neither runtime (docs/architecture.md#the-device-client).',
      severity: 'error',
      from: { path: '^device-client/src/core/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'device-client-core-below-its-runtimes',
      severity: 'error',
      from: { path: '^device-client/src/core/' },
      to: { path: '^device-client/src/(?!core/)' },
    },
    {
      name: 'browser-runtime-on-the-core',
      comment: 'The browser build (device-client/src/browser/) uses the core and no Node built-in; its bundle is checked again by scripts/build-browser.mjs.',
      severity: 'error',
      from: { path: '^device-client/src/browser/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'browser-runtime-not-on-the-node-runtime',
      severity: 'error',
      from: { path: '^device-client/src/browser/' },
      to: { path: '^device-client/src/(?!core/|browser/)' },
    },
    {
      name: 'simulators-drive-the-real-parts',
      comment: 'Simulators use the device client and run the devicegate command; they import no server internals.',
      severity: 'error',
      from: { path: '^simulators/' },
      to: { path: '^(server|verification-ui)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'node', 'default'] },
  },
};
