import { deriveKey, hashSecret } from '../secrets.ts';

/**
 * What is derived from a device code, in one place. The store keeps only the code's SHA-256
 * (docs/security.md, device code theft); the push key, which names the grant's MQTT topic and
 * broker account and indexes WebSocket subscribers, is derived one-way from that hash, so a push
 * topic seen on a broker reveals nothing that redeems the code.
 */
export function deviceCodeHashOf(deviceCode: string): string {
  return hashSecret(deviceCode);
}

export function pushKeyOf(deviceCodeHash: string): string {
  return deriveKey('push', deviceCodeHash);
}

/** Device codes are 43 characters (256 bits, base64url); anything much longer is not one. */
export const MAX_DEVICE_CODE_LENGTH = 256;
