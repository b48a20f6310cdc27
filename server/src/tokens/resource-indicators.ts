import { invalidTarget } from '../errors.ts';
import type { Store } from '../store/types.ts';

/**
 * Resource indicators (RFC 8707): a client names the APIs it wants to reach with `resource`, and
 * each access token's `aud` is exactly what was asked for, so a token for one API is refused by
 * every other (docs/security.md RESOURCE-AUDIENCE). Only resource servers an operator registered
 * (`devicegate resources add`) can be named.
 */

/** RFC 8707 §2: an absolute URI without a fragment. */
function wellFormed(resource: string): boolean {
  if (resource.includes('#')) return false;
  try {
    return new URL(resource).protocol.length > 1;
  } catch {
    return false;
  }
}

const shown = (resource: string) => JSON.stringify(resource.slice(0, 200));

/**
 * The resources of a device authorization (or client_credentials) request, each well-formed and
 * registered; invalid_target otherwise (RFC 8707 §2).
 */
export async function registeredResources(store: Store, requested: readonly string[]): Promise<string[]> {
  for (const resource of requested) {
    if (!wellFormed(resource)) throw invalidTarget(`resource ${shown(resource)} is not an absolute URI without a fragment`);
    if (!(await store.resources.get(resource))) throw invalidTarget(`resource ${shown(resource)} is not a registered resource server`);
  }
  return [...requested];
}

/**
 * The audience of a token issued from a grant (RFC 8707 §2.2): the resources this request names,
 * each one the grant was consented for, or all of the grant's when it names none. A request can
 * narrow the grant, never widen it (docs/security.md RESOURCE-NARROW); the registry is asked
 * again, so a resource the operator removed is no longer reached.
 */
export async function audienceFromGrant(store: Store, requested: readonly string[], granted: readonly string[]): Promise<string[]> {
  const audience = requested.length > 0 ? [...requested] : [...granted];
  for (const resource of audience) {
    if (!granted.includes(resource)) throw invalidTarget(`resource ${shown(resource)} was not granted`);
    if (!(await store.resources.get(resource))) throw invalidTarget(`resource ${shown(resource)} is no longer registered`);
  }
  return audience;
}
