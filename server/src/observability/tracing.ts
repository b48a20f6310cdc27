import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EventBus, GrantEvent } from '../bus/types.ts';
import type { KeyStore } from '../keys/keystore.ts';

/**
 * OpenTelemetry traces (docs/deploy.md#metrics-traces-and-webhooks). The server uses the API only
 * (`@opentelemetry/api`): without an SDK every call is a no-op, and the appliance builds none of
 * the wrappers below unless tracing is on, so the hot paths pay nothing. `serve` loads the SDK
 * only when the standard OTEL_* variables ask for traces (startTracingFromEnvironment).
 *
 * One sign-in is one trace: the device authorization's request span is its root, its W3C
 * traceparent is kept with the device grant in the store, and the approval and the redemption
 * (other requests, maybe on other instances) open their spans under it, linked to the request
 * they happen in. Bus messages carry the publisher's traceparent, so a push delivered by another
 * instance joins the trace too.
 */
export const TRACER_NAME = 'devicegate';
const tracer = () => trace.getTracer(TRACER_NAME);

/** W3C Trace Context §3.2: version 00, 16-byte trace id, 8-byte parent id, flags. */
const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export function isTraceParent(value: unknown): value is string {
  return typeof value === 'string' && TRACEPARENT.test(value);
}

/** True when the OTEL_* environment asks for traces (OpenTelemetry's SDK environment specification). */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if (/^true$/i.test(env.OTEL_SDK_DISABLED ?? '')) return false;
  const exporter = env.OTEL_TRACES_EXPORTER?.trim();
  if (exporter) return exporter !== 'none';
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Starts the OpenTelemetry SDK when the environment asks for traces; it reads every other
 * OTEL_* variable itself (exporter, endpoint, headers, sampler, service name). Loaded only then,
 * so an appliance without tracing never loads it. Returns undefined when tracing is off.
 */
export async function startTracingFromEnvironment(env: NodeJS.ProcessEnv): Promise<{ shutdown(): Promise<void> } | undefined> {
  if (!tracingRequested(env)) return undefined;
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({ serviceName: env.OTEL_SERVICE_NAME || 'devicegate', instrumentations: [] });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}

/** The current context as a traceparent, if it is being traced. */
export function currentTraceParent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return isTraceParent(carrier.traceparent) ? carrier.traceparent : undefined;
}

const parentOf = (traceParent: string) => propagation.extract(ROOT_CONTEXT, { traceparent: traceParent });

function endWith(span: Span, error?: unknown): void {
  if (error !== undefined) {
    span.recordException(error as Error);
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/**
 * Runs `work` in a span of the sign-in's trace (the grant's stored traceparent), linked to the
 * span it runs in now (the approving request, the redeeming poll). Without a traceparent (not
 * traced, or traced before tracing was on) it just runs `work`.
 */
export async function inGrantTrace<T>(name: string, traceParent: string | null | undefined, attributes: Attributes, work: () => Promise<T>): Promise<T> {
  if (!traceParent) return work();
  const here = trace.getActiveSpan()?.spanContext();
  return tracer().startActiveSpan(name, { attributes, links: here ? [{ context: here }] : [] }, parentOf(traceParent), async (span) => {
    try {
      const result = await work();
      endWith(span);
      return result;
    } catch (error) {
      endWith(span, error);
      throw error;
    }
  });
}

/** A span for a push delivered to a device, under the publisher's context carried by the bus event. */
export function tracePushDelivery(channel: string, event: GrantEvent, deliver: () => void): void {
  if (!event.trace) return deliver();
  const span = tracer().startSpan(`push deliver ${channel}`, { kind: SpanKind.PRODUCER, attributes: { 'devicegate.push.channel': channel, 'devicegate.outcome': event.type === 'outcome' ? event.outcome : event.type } }, parentOf(event.trace));
  try {
    deliver();
    endWith(span);
  } catch (error) {
    endWith(span, error);
    throw error;
  }
}

const requestSpans = new WeakMap<FastifyRequest, Span>();

/** Notes the outcome of a request (an OAuth error code) on its span; the error handler calls it. */
export function noteRequestOutcome(request: FastifyRequest, outcome: string): void {
  requestSpans.get(request)?.setAttribute('devicegate.outcome', outcome);
}

/**
 * A server span per request, named by its route template, continuing the caller's traceparent if
 * it sent one. The rest of the request runs in its context, so store, signing and bus spans nest
 * under it. On the response: the status, the grant type (token endpoint) and the outcome.
 */
export function traceRequests(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const route = request.routeOptions.url ?? 'unmatched';
    const span = tracer().startSpan(`${request.method} ${route}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method, 'http.route': route } }, parent);
    requestSpans.set(request, span);
    // Fastify runs the rest of the lifecycle from `done`, so everything after it (and every
    // promise it starts) is in the span's context.
    context.with(trace.setSpan(parent, span), done);
  });
  app.addHook('onResponse', (request, reply, done) => {
    const span = requestSpans.get(request);
    if (span) {
      span.setAttribute('http.response.status_code', reply.statusCode);
      const body = request.body;
      const grantType = body instanceof URLSearchParams ? body.get('grant_type') : null;
      if (grantType) span.setAttribute('oauth.grant_type', grantType);
      else if (request.routeOptions.url === '/oauth/device_authorization') span.setAttribute('oauth.grant_type', 'urn:ietf:params:oauth:grant-type:device_code');
      if (reply.statusCode < 400) span.setAttribute('devicegate.outcome', 'success');
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    done();
  });
}

/** The store with a client span per repository call (`store deviceGrants.recordPoll`). */
export function tracedStore<S extends object>(store: S): S {
  const out: Record<string, unknown> = {};
  for (const [name, repository] of Object.entries(store)) {
    if (typeof repository !== 'object' || repository === null) {
      out[name] = typeof repository === 'function' ? (repository as (...args: unknown[]) => unknown).bind(store) : repository;
      continue;
    }
    const traced: Record<string, unknown> = {};
    for (const [method, fn] of Object.entries(repository)) {
      if (typeof fn !== 'function') {
        traced[method] = fn;
        continue;
      }
      const spanName = `store ${name}.${method}`;
      traced[method] = (...args: unknown[]) => {
        const span = tracer().startSpan(spanName, { kind: SpanKind.CLIENT, attributes: { 'db.operation.name': `${name}.${method}` } });
        try {
          const result = (fn as (...a: unknown[]) => unknown).apply(repository, args);
          if (result instanceof Promise) result.then(() => endWith(span), (error: unknown) => endWith(span, error));
          else endWith(span);
          return result;
        } catch (error) {
          endWith(span, error);
          throw error;
        }
      };
    }
    out[name] = traced;
  }
  return out as S;
}

/** The key store with a span per JWT signed. */
export function tracedKeys(keys: KeyStore): KeyStore {
  return {
    ...keys,
    sign(payload, header, expiresInSeconds, issuedAt) {
      return tracer().startActiveSpan('sign JWT', { attributes: { 'devicegate.jwt.typ': header.typ } }, async (span) => {
        try {
          const signed = await keys.sign(payload, header, expiresInSeconds, issuedAt);
          endWith(span);
          return signed;
        } catch (error) {
          endWith(span, error);
          throw error;
        }
      });
    },
  };
}

/** The bus with a span per publish, whose traceparent travels in the event to every instance. */
export function tracedBus(bus: EventBus): EventBus {
  return {
    publish(event) {
      return tracer().startActiveSpan(`bus publish ${event.type}`, { kind: SpanKind.PRODUCER }, async (span) => {
        try {
          await bus.publish({ ...event, trace: currentTraceParent() });
          endWith(span);
        } catch (error) {
          endWith(span, error);
          throw error;
        }
      });
    },
    subscribe: (listener) => bus.subscribe(listener),
    close: () => bus.close(),
  };
}
