// Message catalogs: complete in every language, negotiated from Accept-Language, and a new
// language is one more file.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { html, loadCatalogs } from '@devicegate/verification-ui';

const localesDirectory = new URL('../../verification-ui/src/locales/', import.meta.url);
const read = (file: string) => JSON.parse(readFileSync(new URL(file, localesDirectory), 'utf8')) as Record<string, string>;
const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((match) => match[1]).sort();

test('every catalog has exactly the keys of the English one, with the same placeholders', () => {
  const english = read('en.json');
  const files = readdirSync(localesDirectory).filter((file) => file.endsWith('.json'));
  assert.ok(files.includes('nl.json'));
  for (const file of files) {
    const catalog = read(file);
    assert.deepEqual(Object.keys(catalog).sort(), Object.keys(english).sort(), `${file} has the same keys as en.json`);
    for (const [key, text] of Object.entries(english)) {
      assert.deepEqual(placeholders(catalog[key]!), placeholders(text), `${file}: ${key} keeps the placeholders`);
      assert.notEqual(catalog[key]!.trim(), '', `${file}: ${key} is not empty`);
    }
  }
});

test('no page template holds words of its own: every text comes from the catalog', () => {
  const pages = new URL('../../verification-ui/src/pages/', import.meta.url);
  for (const file of readdirSync(pages)) {
    const source = readFileSync(new URL(file, pages), 'utf8');
    // Text between tags that is not an interpolation, e.g. `<p>Sign in</p>`.
    const literal = [...source.matchAll(/>([^<>${}`]*[A-Za-z]{2,}[^<>${}`]*)</g)].map((match) => match[1]!.trim()).filter((text) => text !== '');
    assert.deepEqual(literal, [], `${file} has literal text`);
  }
});

test('Accept-Language picks the best catalog, regional tags and q-values included, English otherwise', () => {
  const catalogs = loadCatalogs();
  assert.deepEqual(catalogs.all.map((locale) => locale.code), ['en', 'nl']);
  const pick = (header: string | undefined) => catalogs.negotiate(header).code;
  assert.equal(pick('nl-NL,nl;q=0.9,en;q=0.8'), 'nl');
  assert.equal(pick('nl-BE'), 'nl');
  assert.equal(pick('de-DE,nl;q=0.5,en;q=0.4'), 'nl');
  assert.equal(pick('en-GB,nl;q=0.9'), 'en');
  assert.equal(pick('fr-FR'), 'en');
  assert.equal(pick('nl;q=0'), 'en');
  assert.equal(pick(undefined), 'en');
  assert.equal(pick('*'), 'en');
});

test('messages fill placeholders as text, or as markup through markup()', () => {
  const nl = loadCatalogs().get('nl')!;
  assert.equal(nl.t('done.approved', { device: 'Woonkamer-tv' }), 'Je bent ingelogd op Woonkamer-tv. Je kunt deze pagina sluiten.');
  assert.equal(
    nl.markup('done.approved', { device: html`<strong>${'<tv>'}</strong>` }).toString(),
    'Je bent ingelogd op <strong>&lt;tv&gt;</strong>. Je kunt deze pagina sluiten.',
  );
  const en = loadCatalogs().get('en')!;
  assert.equal(en.markup('done.approved', { device: '<script>' }).toString(), 'You&#39;re signed in on &lt;script&gt;. You can close this page.');
  assert.equal(en.relativeTime(1_000_000 - 120_000, 1_000_000), '2 minutes ago');
  assert.equal(nl.relativeTime(1_000_000 + 30_000, 1_000_000), 'over 30 seconden');
});

test('a third language is one more file in the folder', () => {
  const directory = mkdtempSync(path.join(tmpdir(), 'devicegate-locales-'));
  try {
    for (const file of ['en.json', 'nl.json']) copyFileSync(new URL(file, localesDirectory), path.join(directory, file));
    writeFileSync(path.join(directory, 'de.json'), JSON.stringify({ 'language.name': 'Deutsch', 'code.submit': 'Weiter' }));
    const catalogs = loadCatalogs(pathToFileURL(`${directory}/`));
    const german = catalogs.negotiate('de-AT');
    assert.equal(german.code, 'de');
    assert.equal(german.name, 'Deutsch');
    assert.equal(german.t('code.submit'), 'Weiter');
    assert.equal(german.t('code.label'), 'Code', 'a message not yet translated falls back to English');
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
