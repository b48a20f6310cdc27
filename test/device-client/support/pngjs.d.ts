// pngjs comes with qrcode (it writes qrcode's PNGs); the QR test reads them back with it. It ships
// no types, and this is all the test uses.
declare module 'pngjs' {
  export const PNG: { sync: { read(buffer: Buffer): { width: number; height: number; data: Buffer } } };
}
