import { writeFile } from 'node:fs/promises';
import QRCode from 'qrcode';

/**
 * QR codes of the verification URL, for a terminal, a web view or a device's screen. Error
 * correction M: readable from a small or slightly blurry screen, still compact for a URL.
 */
const ERROR_CORRECTION = 'M' as const;

/** Text made of half-block characters, two modules per character cell row; fits 80 columns. */
export function renderQrTerminal(text: string): Promise<string> {
  return QRCode.toString(text, { type: 'terminal', small: true, errorCorrectionLevel: ERROR_CORRECTION });
}

export function renderQrSvg(text: string, options: { margin?: number } = {}): Promise<string> {
  return QRCode.toString(text, { type: 'svg', margin: options.margin ?? 2, errorCorrectionLevel: ERROR_CORRECTION });
}

/** PNG bytes; `width` in pixels (default 8 pixels per module). */
export function renderQrPng(text: string, options: { width?: number; margin?: number } = {}): Promise<Buffer> {
  return QRCode.toBuffer(text, {
    type: 'png',
    errorCorrectionLevel: ERROR_CORRECTION,
    margin: options.margin ?? 2,
    ...(options.width ? { width: options.width } : { scale: 8 }),
  });
}

export async function writeQrPng(file: string, text: string, options: { width?: number } = {}): Promise<void> {
  await writeFile(file, await renderQrPng(text, options));
}

export interface QrRenderers {
  /** What the code encodes: verification_uri_complete when the appliance gave one. */
  text: string;
  terminal(): Promise<string>;
  svg(): Promise<string>;
  png(options?: { width?: number }): Promise<Buffer>;
  writePng(file: string, options?: { width?: number }): Promise<void>;
}

export function qrRenderers(text: string): QrRenderers {
  return {
    text,
    terminal: () => renderQrTerminal(text),
    svg: () => renderQrSvg(text),
    png: (options) => renderQrPng(text, options),
    writePng: (file, options) => writeQrPng(file, text, options),
  };
}
