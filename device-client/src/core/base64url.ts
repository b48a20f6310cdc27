/**
 * base64url (RFC 4648 §5, no padding) with what both runtimes have: TextEncoder, btoa, atob. The
 * core uses no Buffer, so it runs in a browser unchanged.
 */
export function bytesToBase64url(bytes: Uint8Array): string {
  let binary = '';
  for (let index = 0; index < bytes.length; index += 0x8000) binary += String.fromCharCode(...bytes.subarray(index, index + 0x8000));
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function base64urlToBytes(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

export const textToBase64url = (text: string): string => bytesToBase64url(new TextEncoder().encode(text));

/** Standard base64 of UTF-8 text, for HTTP Basic (RFC 7617 §2). */
export const textToBase64 = (text: string): string => btoa(String.fromCharCode(...new TextEncoder().encode(text)));
