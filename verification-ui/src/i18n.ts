import { readdirSync, readFileSync } from 'node:fs';
import Negotiator from 'negotiator';
import { escapeHtml, html, SafeHtml, type HtmlValue } from './html.ts';

/**
 * Message catalogs: every word the pages show lives in `locales/<language>.json`, one flat object
 * of keys to messages with `{name}` placeholders. English is the reference; a third language is
 * one more file in that folder (nothing else to register). A key missing from a catalog falls
 * back to English, and a test keeps the catalogs complete.
 */
export type MessageKey = keyof typeof import('./locales/en.json');
export type Catalog = Record<MessageKey, string>;
type Params = Record<string, HtmlValue>;

export interface Locale {
  /** BCP 47 tag, the catalog's file name: `en`, `nl`. */
  code: string;
  /** The language's own name for itself, shown in the switch. */
  name: string;
  /** A message as text (the page's template escapes it). */
  t(key: MessageKey, params?: Record<string, string | number>): string;
  /** A message as markup whose placeholders may be markup themselves (e.g. <strong>). */
  markup(key: MessageKey, params: Params): SafeHtml;
  /** "5 minutes ago", "in 30 seconds", "now": in this language, no time zone needed. */
  relativeTime(at: number, now: number): string;
}

export interface Catalogs {
  /** Every language, the default first. */
  all: Locale[];
  default: Locale;
  get(code: string | undefined): Locale | undefined;
  /** Best match for an Accept-Language header (RFC 9110 §12.5.4); the default when none fits. */
  negotiate(acceptLanguage: string | undefined): Locale;
}

const PLACEHOLDER = /\{(\w+)\}/g;
const LANGUAGE_TAG = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;

function createLocale(code: string, messages: Record<string, string>, fallback: Record<string, string>): Locale {
  const message = (key: MessageKey) => messages[key] ?? fallback[key] ?? key;
  const relative = new Intl.RelativeTimeFormat(code, { numeric: 'auto' });
  return {
    code,
    name: message('language.name'),
    t(key, params = {}) {
      return message(key).replace(PLACEHOLDER, (whole, name: string) => (name in params ? String(params[name]) : whole));
    },
    markup(key, params) {
      const text = message(key);
      let out = '';
      let last = 0;
      for (const match of text.matchAll(PLACEHOLDER)) {
        out += escapeHtml(text.slice(last, match.index));
        out += match[1]! in params ? html`${params[match[1]!]}`.toString() : escapeHtml(match[0]);
        last = match.index! + match[0].length;
      }
      return new SafeHtml(out + escapeHtml(text.slice(last)));
    },
    relativeTime(at, now) {
      const seconds = Math.round((at - now) / 1000);
      const size = Math.abs(seconds);
      if (size < 60) return relative.format(seconds, 'second');
      if (size < 3600) return relative.format(Math.round(seconds / 60), 'minute');
      if (size < 86400) return relative.format(Math.round(seconds / 3600), 'hour');
      return relative.format(Math.round(seconds / 86400), 'day');
    },
  };
}

/** Reads every `*.json` catalog in `directory`; `defaultCode` must be among them. */
export function loadCatalogs(directory: URL = new URL('./locales/', import.meta.url), defaultCode = 'en'): Catalogs {
  const raw = new Map<string, Record<string, string>>();
  for (const file of readdirSync(directory).sort()) {
    if (!file.endsWith('.json')) continue;
    const code = file.slice(0, -'.json'.length);
    if (!LANGUAGE_TAG.test(code)) throw new Error(`locale file ${file}: the name must be a language tag such as nl.json`);
    const parsed = JSON.parse(readFileSync(new URL(file, directory), 'utf8')) as unknown;
    if (!parsed || typeof parsed !== 'object' || Object.values(parsed).some((value) => typeof value !== 'string')) {
      throw new Error(`locale file ${file}: expected an object of strings`);
    }
    raw.set(code, parsed as Record<string, string>);
  }
  const fallback = raw.get(defaultCode);
  if (!fallback) throw new Error(`no catalog for the default language "${defaultCode}" in ${directory.pathname}`);
  const all = [defaultCode, ...[...raw.keys()].filter((code) => code !== defaultCode)].map((code) => createLocale(code, raw.get(code)!, fallback));
  const byCode = new Map(all.map((locale) => [locale.code.toLowerCase(), locale]));
  const codes = all.map((locale) => locale.code);
  const defaultLocale = all[0]!;
  return {
    all,
    default: defaultLocale,
    get: (code) => (code ? byCode.get(code.toLowerCase()) : undefined),
    negotiate(acceptLanguage) {
      if (!acceptLanguage) return defaultLocale;
      // negotiator matches `nl-BE` to `nl` and honours q-values, `*` and q=0.
      const best = new Negotiator({ headers: { 'accept-language': acceptLanguage } }).language(codes);
      return (best && byCode.get(best.toLowerCase())) || defaultLocale;
    },
  };
}
