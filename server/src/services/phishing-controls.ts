import ipaddr from 'ipaddr.js';
import { normalizeUserCode, USER_CODE_ALPHABET } from '../device-grants/user-code.ts';

/**
 * The pure parts of the per-client cross-device phishing controls (RFC 10027 §6;
 * docs/security.md "Cross-device phishing controls"): where devices may ask from, which user
 * codes are never handed out, and which device names read like instructions to the person.
 */

/** A CIDR block as the operator wrote it ("192.0.2.0/24", "2001:db8::/48"), or null. */
export function parseNetwork(text: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | null {
  try {
    const [address, prefix] = ipaddr.parseCIDR(text.trim());
    // ::ffff:192.0.2.0/120 is the IPv4 block 192.0.2.0/24, which is how IPv4 devices arrive.
    if (address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress()) return [address.toIPv4Address(), prefix - 96];
    return [address, prefix];
  } catch {
    return null;
  }
}

/** True when `address` is inside one of `networks` (CIDR text); an empty list allows every address. */
export function networkAllowed(address: string | null, networks: readonly string[]): boolean {
  if (networks.length === 0) return true;
  if (!address) return false;
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.process(address.replace(/%[\w.-]+$/, ''));
  } catch {
    return false;
  }
  return networks.some((text) => {
    const network = parseNetwork(text);
    return network !== null && network[0].kind() === parsed.kind() && parsed.match(network as [typeof parsed, number]);
  });
}

/**
 * A user-code prefix as stored: upper case, only letters of the user-code alphabet, 2 to 7 of
 * them. Null when it could never begin a code. Two letters at least, and at most
 * MAX_USER_CODE_DENY_PREFIXES of them, keep what is denied under an eighth of the code space, so
 * drawing again always ends soon.
 */
export const MAX_USER_CODE_DENY_PREFIXES = 50;

export function normalizeUserCodePrefix(text: string): string | null {
  const upper = text.toUpperCase().replace(/[\s-]/g, '');
  if (upper.length < 2 || upper.length >= 8) return null;
  for (const character of upper) if (!USER_CODE_ALPHABET.includes(character)) return null;
  return upper;
}

/**
 * Phishers request codes until one starts like a brand ("MSFT-…", "HLPD-…") and use it to look
 * official; codes starting with a denied prefix are never handed out.
 */
export function userCodeAllowed(userCode: string, deniedPrefixes: readonly string[]): boolean {
  const normalized = normalizeUserCode(userCode) ?? userCode;
  return !deniedPrefixes.some((prefix) => normalized.startsWith(prefix));
}

/**
 * A device name is the attacker's text on the consent page (RFC 10027 §6: "Microsoft support:
 * enter this code…"). A real device names itself ("Living room TV", "Kiosk 3"); one that addresses
 * the person, names a support desk, carries a phone number, a URL or an e-mail address, or speaks
 * of codes, accounts and urgency reads like instructions.
 */
const INSTRUCTION_PATTERNS: readonly RegExp[] = [
  /\b(enter|type|use|input|paste|confirm|approve|allow|accept|click|tap|call|contact|visit|go to|sign in|log ?in|verify)\b/i,
  /\b(support|help ?desk|helpdesk|service desk|technician|security team|it department|administrator|admin)\b/i,
  /\b(code|password|account|urgent|immediately|suspended|locked|expire[sd]?|refund|prize)\b/i,
  /\b(you|your)\b/i,
  /https?:|www\.|\b[\w-]+\.(com|net|org|io|info|biz|ru|cn)\b/i,
  /\S+@\S+\.\S+/,
  /(?:\+?\d[\d\s().-]{6,}\d)/,
  /!/,
];

export function looksLikeInstructions(deviceName: string): boolean {
  return INSTRUCTION_PATTERNS.some((pattern) => pattern.test(deviceName));
}
