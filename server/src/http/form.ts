import type { FastifyInstance } from 'fastify';
import { invalidRequest } from '../errors.ts';

/**
 * Request bodies: only application/x-www-form-urlencoded is accepted (RFC 6749 §3.2, RFC 8628
 * §3.1). The parser keeps every value, so pages can read repeated fields (scope checkboxes);
 * OAuth endpoints go through `oauthParameters`, which refuses repetition (RFC 6749 §3.1).
 */
export function registerFormParser(app: FastifyInstance, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit }, (_request, body, done) => {
    done(null, new URLSearchParams(body as string));
  });
}

const MAX_PARAMETER_LENGTH = 4096;
/** How many values a repeatable parameter may carry: a client asks for a few APIs, not hundreds. */
const MAX_REPEATED_VALUES = 10;

/**
 * The parameters an RFC lets a client repeat: `resource` (RFC 8707 §2) and `audience` (RFC 8693
 * §2.1). They are read with `parameterValues`; `oauthParameters` keeps their first value.
 */
const REPEATABLE = new Set(['resource', 'audience']);

/** One value per name (but for REPEATABLE ones), each bounded; anything else is invalid_request. */
export function oauthParameters(body: unknown): Record<string, string> {
  if (body === undefined || body === null) return {};
  if (!(body instanceof URLSearchParams)) throw invalidRequest('the body must be application/x-www-form-urlencoded');
  const parameters: Record<string, string> = Object.create(null);
  for (const [name, value] of body) {
    if (name in parameters && REPEATABLE.has(name)) continue;
    if (name in parameters) throw invalidRequest(`parameter "${name.slice(0, 64)}" is repeated`);
    if (value.length > MAX_PARAMETER_LENGTH || name.length > 128) throw invalidRequest(`parameter "${name.slice(0, 64)}" is too long`);
    parameters[name] = value;
  }
  return parameters;
}

/** Every value of a repeatable parameter (REPEATABLE), in order, without duplicates. */
export function parameterValues(body: unknown, name: string): string[] {
  if (!(body instanceof URLSearchParams)) return [];
  const values = [...new Set(body.getAll(name))];
  if (values.length > MAX_REPEATED_VALUES) throw invalidRequest(`at most ${MAX_REPEATED_VALUES} "${name}" parameters`);
  for (const value of values) {
    if (value.length > MAX_PARAMETER_LENGTH) throw invalidRequest(`parameter "${name}" is too long`);
  }
  return values;
}

/** A required parameter, present and non-empty. */
export function required(parameters: Record<string, string>, name: string): string {
  const value = parameters[name];
  if (value === undefined || value === '') throw invalidRequest(`missing required parameter "${name}"`);
  return value;
}

/** RFC 6749 §3.3: scope is a space-delimited list of NQCHAR tokens. */
export function parseScope(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const scopes = value.split(' ').filter((scope) => scope !== '');
  for (const scope of scopes) {
    if (!/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope) || scope.length > 128) throw invalidRequest('scope is malformed');
  }
  return [...new Set(scopes)];
}
