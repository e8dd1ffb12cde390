/** Small view helpers shared by the three sites. Everything returns SafeHtml built with html``. */
import { html, raw, type SafeHtml } from './html.js';
import type { Section } from './data/safe.js';

export function fmtAge(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return fmtAge(ms / 1000);
}

export function fmtNum(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function fmtTime(d: Date | string | null | undefined): SafeHtml {
  if (!d) return html`<span class="muted">—</span>`;
  const date = d instanceof Date ? d : new Date(d);
  if (Number.isNaN(date.getTime())) return html`${String(d)}`;
  const iso = date.toISOString();
  return html`<time datetime="${iso}" title="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>`;
}

const TONE: Record<string, string> = {
  ok: 'ok',
  online: 'ok',
  running: 'ok',
  up: 'ok',
  idle: 'info',
  synced: 'ok',
  succeeded: 'ok',
  completed: 'ok',
  fresh: 'ok',
  connected: 'ok',
  success: 'ok',
  active: 'ok',
  changing: 'warn',
  gated: 'bad',
  archived: 'mute',
  expired: 'bad',
  failure: 'bad',
  skipped: 'mute',
  'not-runnable': 'mute',
  pending: 'info',
  throttled: 'warn',
  dispatched: 'info',
  degraded: 'warn',
  paused: 'warn',
  stale: 'warn',
  unverified: 'warn',
  'timed-out': 'bad',
  drift: 'bad',
  'local-only': 'bad',
  'exchange-only': 'bad',
  cancelled: 'mute',
  interrupted: 'warn',
  failed: 'bad',
  stopped: 'bad',
  stalled: 'bad',
  down: 'bad',
  missing: 'bad',
  error: 'bad',
  critical: 'bad',
  high: 'bad',
  warning: 'warn',
  info: 'info',
  'not running': 'mute',
  'not installed': 'mute',
  unknown: 'mute',
  admin: 'info',
  viewer: 'mute',
};

export function badge(state: string | null | undefined, label?: string): SafeHtml {
  const s = state ?? 'unknown';
  return html`<span class="badge tone-${TONE[s] ?? 'mute'}">${label ?? s}</span>`;
}

/** A bar for a percentage: <meter> needs no inline style, so the CSP can forbid inline styles. */
export function gauge(percent: number | null | undefined, label?: string): SafeHtml {
  if (percent === null || percent === undefined || !Number.isFinite(percent)) return html`<span class="muted">—</span>`;
  const p = Math.max(0, Math.min(100, percent));
  return html`<span class="gauge"><meter min="0" max="100" low="75" high="90" optimum="0" value="${p.toFixed(1)}">${p.toFixed(0)} %</meter> <span class="num">${p.toFixed(0)} %</span>${label ? html` <span class="muted">${label}</span>` : ''}</span>`;
}

export function table(headers: Array<string | SafeHtml>, rows: SafeHtml[], opts: { empty?: string; cls?: string } = {}): SafeHtml {
  if (!rows.length) return html`<p class="empty">${opts.empty ?? 'Nothing here.'}</p>`;
  return html`<div class="table-wrap"><table class="${opts.cls ?? ''}"><thead><tr>${headers.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead><tbody>${rows}</tbody></table></div>`;
}

export function pre(value: unknown, cls = 'code'): SafeHtml {
  if (value === null || value === undefined) return html`<p class="muted">—</p>`;
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  return html`<pre class="${cls}">${text}</pre>`;
}

/** Render a data section honestly: its data, "not running / not installed" or the error it hit. */
export function sectionBody<T>(s: Section<T>, render: (data: T) => SafeHtml): SafeHtml {
  if (s.status === 'ok') return render(s.data);
  if (s.status === 'absent') return html`<p class="absent">${badge('not installed', 'no data yet')} ${s.reason}</p>`;
  return html`<p class="error">${badge('error')} Could not read this part: ${s.message}</p>`;
}

export function card(title: string, body: SafeHtml, opts: { id?: string; hint?: string | SafeHtml; right?: SafeHtml; wide?: boolean } = {}): SafeHtml {
  return html`<section class="card${opts.wide ? ' wide' : ''}"${opts.id ? raw(` id="${opts.id.replace(/[^a-z0-9-]/gi, '')}"`) : ''}>
  <header class="card-head"><h2>${title}</h2>${opts.hint ? html`<span class="hint">${opts.hint}</span>` : ''}${opts.right ?? ''}</header>
  <div class="card-body">${body}</div>
</section>`;
}

export function stat(label: string, value: string | SafeHtml, sub?: string | SafeHtml): SafeHtml {
  return html`<div class="stat"><div class="stat-label">${label}</div><div class="stat-value">${value}</div>${sub ? html`<div class="stat-sub">${sub}</div>` : ''}</div>`;
}
