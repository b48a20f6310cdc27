import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { PNG } from 'pngjs';
import QRCode from 'qrcode';
import { qrRenderers, renderQrPng, renderQrSvg, renderQrTerminal } from '@devicegate/device-client';
import { bigText } from '../../device-client/src/cli/big-text.ts';
import { tempDir } from './support/temp.ts';

const URL_TO_ENCODE = 'https://id.example/device?user_code=BCDF-GHJK';

/** The symbol the qrcode encoder makes for the URL (error correction M, as the client uses). */
function expectedModules(text: string): boolean[][] {
  const { modules } = QRCode.create(text, { errorCorrectionLevel: 'M' });
  return Array.from({ length: modules.size }, (_, row) =>
    Array.from({ length: modules.size }, (_, column) => Boolean(modules.get(row, column))),
  );
}

/** Finds the symbol inside a decoded picture (any quiet zone) and checks every module. */
function assertContainsSymbol(picture: boolean[][], symbol: boolean[][], what: string): void {
  for (let top = 0; top <= 4; top++) {
    for (let left = 0; left <= 4; left++) {
      const matches = symbol.every((row, r) => row.every((dark, c) => picture[top + r]?.[left + c] === dark));
      if (matches) return;
    }
  }
  assert.fail(`${what} does not contain the QR symbol of the URL`);
}

test('the terminal QR code holds the URL, drawn with half blocks two rows per line', async () => {
  const text = await renderQrTerminal(URL_TO_ENCODE);
  const symbol = expectedModules(URL_TO_ENCODE);
  // qrcode's small renderer paints black glyphs on a white background; its last line only draws
  // the bottom quiet zone (white glyphs), so it is left out here.
  const lines = text.split('\n').filter((line) => line.includes('\x1b[47m\x1b[30m') && !line.includes('\x1b[37m'));
  const picture: boolean[][] = [];
  for (const line of lines) {
    const glyphs = [...line.replace(/\x1b\[[0-9;]*m/g, '')];
    picture.push(glyphs.map((glyph) => glyph === '▀' || glyph === '█'));
    picture.push(glyphs.map((glyph) => glyph === '▄' || glyph === '█'));
  }
  assert.ok(lines.length >= symbol.length / 2, 'about half as many lines as modules');
  assertContainsSymbol(picture, symbol, 'the terminal text');
  assert.throws(() => assertContainsSymbol(picture, expectedModules('https://other.example/device'), 'x'), 'the check can fail');
});

test('the SVG QR code holds the URL', async () => {
  const svg = await renderQrSvg(URL_TO_ENCODE);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" viewBox="0 0 (\d+) \1"/);
  const d = /<path stroke="#000000" d="([^"]+)"/.exec(svg)?.[1];
  assert.ok(d, 'one stroked path draws the dark modules');
  const size = Number(/viewBox="0 0 (\d+)/.exec(svg)![1]);
  const picture = Array.from({ length: size }, () => Array<boolean>(size).fill(false));
  let x = 0;
  let y = 0;
  for (const [, command, a, b] of d.matchAll(/([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?/g)) {
    if (command === 'M') [x, y] = [Number(a), Number(b) - 0.5];
    else if (command === 'm') [x, y] = [x + Number(a), y + Number(b)];
    else {
      for (let i = 0; i < Number(a); i++) picture[y]![x + i] = true;
      x += Number(a);
    }
  }
  assertContainsSymbol(picture, expectedModules(URL_TO_ENCODE), 'the SVG');
});

test('the PNG QR code holds the URL, 8 pixels per module by default', async () => {
  const png = PNG.sync.read(await renderQrPng(URL_TO_ENCODE));
  const symbol = expectedModules(URL_TO_ENCODE);
  assert.equal(png.width, (symbol.length + 4) * 8, 'symbol plus a 2-module quiet zone on each side');
  const modulesAcross = png.width / 8;
  const picture = Array.from({ length: modulesAcross }, (_, row) =>
    Array.from({ length: modulesAcross }, (_, column) => png.data[((row * 8 + 4) * png.width + column * 8 + 4) * 4]! < 128),
  );
  assertContainsSymbol(picture, symbol, 'the PNG');
});

test('writePng writes the same PNG to a file, for a device screen', async () => {
  const file = path.join(tempDir(), 'code.png');
  const qr = qrRenderers(URL_TO_ENCODE);
  await qr.writePng(file);
  assert.deepEqual(readFileSync(file), await qr.png());
  assert.equal(qr.text, URL_TO_ENCODE);
});

test('a user code is drawn five rows tall; unknown characters fall back to plain text', () => {
  const big = bigText('BCDF-GHJK');
  assert.ok(big);
  assert.equal(big.split('\n').length, 5);
  assert.match(big, /█/);
  assert.equal(bigText('ÄÖ'), null);
});
