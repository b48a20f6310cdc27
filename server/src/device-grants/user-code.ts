import { randomInt } from 'node:crypto';

/**
 * User codes (RFC 8628 §6.1): 8 characters from a 20-letter alphabet without vowels (so no words
 * are spelled) and without look-alikes, about 2^34.6 combinations; shown as XXXX-XXXX.
 */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
export const USER_CODE_LENGTH = 8;

export function generateUserCode(): string {
  let code = '';
  for (let i = 0; i < USER_CODE_LENGTH; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return code;
}

/**
 * Normalizes what a person typed: case, spaces, dashes and any character outside the alphabet
 * do not matter (RFC 8628 §6.1). Returns null when what remains cannot be a user code.
 */
export function normalizeUserCode(input: string): string | null {
  if (input.length > 64) return null;
  const upper = input.toUpperCase().replace(/[^A-Z]/g, '');
  if (upper.length !== USER_CODE_LENGTH) return null;
  for (const character of upper) if (!USER_CODE_ALPHABET.includes(character)) return null;
  return upper;
}

/** XXXX-XXXX, the way the device shows it. */
export function formatUserCode(normalized: string): string {
  return `${normalized.slice(0, 4)}-${normalized.slice(4)}`;
}
