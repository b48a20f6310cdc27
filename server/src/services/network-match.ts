import ipaddr from 'ipaddr.js';

/**
 * Which network an address belongs to, for the consent page's phishing warning (RFC 10027 §6:
 * show where the request came from; warn when the device and the person are far apart). Pure
 * functions, no I/O.
 *
 * The granularity is the usual allocation to one site: an IPv4 /24 (a household's public
 * address, or neighbours on a small office network) and an IPv6 /48 (what a provider delegates
 * to one customer site; a /64 is only one of its subnets, and a TV on the wired LAN and a phone on
 * the Wi-Fi often sit in different /64s). IPv4-mapped IPv6 (`::ffff:192.0.2.1`) counts as IPv4.
 * Loopback is one network of its own (a device and a browser on the same machine).
 */
export const IPV4_PREFIX = 24;
export const IPV6_PREFIX = 48;

/** The network of an address as text ("192.0.2.0/24", "2001:db8:1::/48", "loopback"), or null if unparsable. */
export function networkOf(address: string | null | undefined): string | null {
  const parsed = parse(address);
  if (!parsed) return null;
  if (parsed.range() === 'loopback') return 'loopback';
  const prefix = parsed.kind() === 'ipv4' ? IPV4_PREFIX : IPV6_PREFIX;
  const network = parsed.kind() === 'ipv4'
    ? ipaddr.IPv4.networkAddressFromCIDR(`${parsed.toString()}/${prefix}`)
    : ipaddr.IPv6.networkAddressFromCIDR(`${parsed.toString()}/${prefix}`);
  return `${network.toString()}/${prefix}`;
}

/**
 * The key per-address limits count under (docs/security.md LIMIT-BY-NETWORK): an IPv4 address as
 * itself (/32), an IPv6 address by its /64. One IPv6 host is routinely given a whole /64 (SLAAC,
 * privacy addresses, a cloud VM's routed prefix), so keying on the full address would hand it
 * 2^64 fresh budgets; a /64 is the smallest block one site cannot trivially multiply.
 * IPv4-mapped IPv6 counts as the IPv4 address; anything unparsable is its own key.
 */
export const LIMIT_IPV6_PREFIX = 64;
const DOTTED_QUAD = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function limitKeyOfAddress(address: string): string {
  // The common case, a plain IPv4 address, needs no parsing (this runs on every limited request).
  if (DOTTED_QUAD.test(address)) return address;
  const parsed = parse(address);
  if (!parsed) return address;
  if (parsed.kind() === 'ipv4') return parsed.toString();
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${parsed.toString()}/${LIMIT_IPV6_PREFIX}`).toString()}/${LIMIT_IPV6_PREFIX}`;
}

/**
 * True when both addresses are on the same network (see above). Unknown or unparsable addresses
 * are never "the same", so the warning errs on the side of showing.
 */
export function sameNetwork(a: string | null | undefined, b: string | null | undefined): boolean {
  const left = networkOf(a);
  return left !== null && left === networkOf(b);
}

function parse(address: string | null | undefined): ipaddr.IPv4 | ipaddr.IPv6 | null {
  if (typeof address !== 'string' || address.length > 64) return null;
  // A zone index (fe80::1%eth0) says which interface, not which network.
  const bare = address.trim().replace(/%[\w.-]+$/, '');
  // Only the dotted-quad form: "1", "0x7f.1" or "0177.0.0.1" are valid to inet_aton, not to us.
  if (ipaddr.IPv4.isValidFourPartDecimal(bare)) return ipaddr.IPv4.parse(bare);
  if (!ipaddr.IPv6.isValid(bare)) return null;
  // process() turns an IPv4-mapped IPv6 address into the IPv4 address it carries.
  return ipaddr.process(bare);
}
