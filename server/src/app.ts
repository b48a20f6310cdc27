import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AppContext } from './context.ts';
import { registerApprovalApi } from './endpoints/approval-api.ts';
import { registerDeviceAuthorization } from './endpoints/device-authorization.ts';
import { registerDiscovery, registerJwks } from './endpoints/discovery.ts';
import { registerHealth, type Readiness } from './endpoints/health.ts';
import { registerIntrospection } from './endpoints/introspection.ts';
import { registerRegistration } from './endpoints/registration.ts';
import { registerRevocation } from './endpoints/revocation.ts';
import { registerToken } from './endpoints/token.ts';
import { registerUserinfo } from './endpoints/userinfo.ts';
import { registerCors } from './http/cors.ts';
import { installErrorHandling } from './http/error-handler.ts';
import { paths } from './endpoints/paths.ts';
import { registerFormParser } from './http/form.ts';
import type { ApplianceModule } from './modules.ts';
import { traceRequests } from './observability/tracing.ts';

/**
 * The HTTP application: OAuth endpoints plus whatever modules (pages, push) are passed in.
 * Built from its dependencies alone; listening is the caller's business.
 */
export async function createApp(context: AppContext, options: { modules?: ApplianceModule[]; readiness?: Readiness } = {}): Promise<FastifyInstance> {
  const modules = options.modules ?? [];
  const app: FastifyInstance = Fastify({
    loggerInstance: context.logger as FastifyBaseLogger,
    trustProxy: context.config.trustProxy,
    bodyLimit: context.config.maxBodyBytes,
    // A slow or stalled client must not hold a request open for ever.
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 256 },
    // Fastify's own request logging writes two info lines per request; see the hook below.
    logController: new LogController({ disableRequestLogging: true }),
    // A child logger per request only pays when request lines are logged (debug): its reqId
    // ties the two lines of a request together. Above debug no line names a request, so every
    // request shares the appliance's logger; making that child was ~4 % of a request's CPU.
    childLoggerFactory: (logger, bindings, options) => (context.logger.isLevelEnabled('debug') ? logger.child(bindings, options) : logger),
  });
  // Request lines at debug, not info: at info they cost 15-20 % of the CPU time of a device
  // authorization or a poll (docs/performance.md#request-logs-at-debug), and what matters at info
  // is recorded already (audit events, warnings, errors). `--log-level debug` shows both lines of
  // every request.
  const logRequests = context.logger.isLevelEnabled('debug');
  if (logRequests) {
    app.addHook('onRequest', (request, _reply, done) => {
      request.log.debug({ req: request }, 'incoming request');
      done();
    });
    app.addHook('onResponse', (request, reply, done) => {
      request.log.debug({ res: { statusCode: reply.statusCode }, responseTime: reply.elapsedTime }, 'request completed');
      done();
    });
  }
  if (context.tracing) traceRequests(app);
  if (context.metrics.enabled) {
    // Labelled by the route's template, never its URL (one series per endpoint, not per path);
    // requests no route matched share one label.
    const { metrics } = context;
    app.addHook('onResponse', (request, reply, done) => {
      metrics.request(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
  }
  registerFormParser(app, context.config.maxBodyBytes);
  installErrorHandling(app);
  // Defensive headers on every response; pages tighten them further (CSP etc.).
  // A callback hook, not an async one: it runs on every response, and a promise per request
  // showed in the profile.
  const draining = options.readiness?.isDraining ?? (() => false);
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('x-content-type-options', 'nosniff');
    // While draining, every answer ends its connection (RFC 9112 §9.6): no idle keep-alive
    // connection is left for the listener's close to reset under a client that is just reusing
    // it (`fetch failed … ECONNRESET` at the end of a drain); each client opens a fresh one,
    // which the proxy sends elsewhere once /readyz is red.
    if (draining()) reply.header('connection', 'close');
    if (!reply.hasHeader('referrer-policy')) reply.header('referrer-policy', 'no-referrer');
    done(null, payload);
  });

  // docs/security.md CORS-ORIGIN, CORS-PUBLIC: which endpoints a browser app may read.
  registerCors(app, context.store.clients, {
    publicDocuments: [paths.openidConfiguration, paths.authorizationServerMetadata, paths.jwks],
    clientEndpoints: [
      { path: paths.deviceAuthorization, methods: 'POST' },
      { path: paths.token, methods: 'POST' },
      { path: paths.revocation, methods: 'POST' },
      { path: paths.userinfo, methods: 'GET, POST' },
    ],
  });

  const extraMetadata = () => Object.assign({}, ...modules.map((module) => module.metadata?.() ?? {}));
  registerDiscovery(app, context, extraMetadata);
  registerJwks(app, context);
  registerDeviceAuthorization(app, context, modules);
  registerToken(app, context);
  registerRevocation(app, context);
  registerIntrospection(app, context);
  registerUserinfo(app, context);
  registerRegistration(app, context);
  await registerApprovalApi(app, context);
  registerHealth(app, context, options.readiness);
  for (const module of modules) await module.register?.(app, context);
  return app;
}
