import QRCode from 'qrcode';

/**
 * The verification URL as an SVG string, for a TV's sign-in screen: vector, so it stays sharp at
 * any size across a room. Error correction M, as the Node client (../qr.ts). The bundler picks
 * qrcode's browser entry (its package.json "browser" field), which uses no Node built-in.
 */
export function renderQrSvg(text: string, options: { margin?: number } = {}): Promise<string> {
  return QRCode.toString(text, { type: 'svg', margin: options.margin ?? 2, errorCorrectionLevel: 'M' });
}
