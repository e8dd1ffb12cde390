/**
 * Auto-escaping HTML templates. Every page of the web server is built with the html`` tag:
 * interpolated values are escaped unless they are SafeHtml (the result of another html`` call, or of an
 * explicit raw() that marks trusted markup such as rendered Markdown). Arrays are rendered item by item;
 * null, undefined and false render nothing. There is no other way to produce markup, so a forgotten
 * escape cannot happen by string concatenation.
 */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

export type HtmlValue = SafeHtml | string | number | bigint | boolean | null | undefined | HtmlValue[];

function render(value: HtmlValue | unknown): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value instanceof Date) return escapeHtml(value.toISOString());
  return escapeHtml(String(value));
}

/** The template tag: html`<p>${userText}</p>` escapes userText. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new SafeHtml(out);
}

/** Mark trusted markup (rendered Markdown, pre-escaped fragments). Never pass user input here. */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

/** Join fragments with a separator (both escaped unless SafeHtml). */
export function join(items: HtmlValue[], sep: HtmlValue = ''): SafeHtml {
  const s = render(sep);
  return new SafeHtml(items.map(render).join(s));
}

/** Build a query string from defined, non-empty values (for links that keep filters). */
export function qs(params: Record<string, string | number | null | undefined | boolean>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === '' || v === false) continue;
    u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

/** `selected`/`checked` attribute helpers. */
export function attrIf(cond: boolean, name: string): SafeHtml {
  return new SafeHtml(cond ? ` ${name}` : '');
}
