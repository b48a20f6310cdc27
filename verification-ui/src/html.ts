/**
 * An auto-escaping `html` tagged template. Every interpolated value is escaped unless it is
 * itself the result of `html` (a SafeHtml); arrays are joined the same way. There is no
 * "raw" escape hatch: what a device sent (device_name, device_model), what a person typed and
 * every catalog message can only reach a page as text.
 *
 * Hand-written rather than a library because it is this small and because the safety here comes
 * from the type: a string is always text, only SafeHtml is markup, and the compiler checks it.
 * Libraries that opt out of escaping per interpolation (ghtml's `!${}`) make the unsafe path one
 * character away.
 */
export class SafeHtml {
  readonly #markup: string;
  constructor(markup: string) {
    this.#markup = markup;
  }
  toString(): string {
    return this.#markup;
  }
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for element content and for quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => ESCAPES[character]!);
}

function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.toString();
  if (Array.isArray(value)) return value.map(render).join('');
  // null, undefined and false render as nothing, so `${condition && html`...`}` reads naturally.
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new SafeHtml(out);
}
