/** The operator UI's page shell: navigation rail, top bar with the operator and logout, flash message. */
import { assetUrl } from '../assets.js';
import { html, type SafeHtml } from '../html.js';

export interface AdminPageContext {
  title: string;
  active: string;
  user: { email: string; role: 'admin' | 'viewer' } | null;
  csrf: string;
  nonce: string;
  flash?: { type: 'ok' | 'error' | 'info'; text: string } | null;
  /** Extra script assets (the admin.js bundle is always included when a user is logged in). */
  scripts?: string[];
  /** Seconds for a <noscript> meta refresh (pages that update live with JS). */
  noscriptRefresh?: number;
}

export const NAV: Array<{ id: string; href: string; label: string; adminOnly?: boolean }> = [
  { id: 'dashboard', href: '/dashboard', label: 'Dashboard' },
  { id: 'steps', href: '/steps', label: 'Steps' },
  { id: 'queues', href: '/queues', label: 'Queues' },
  { id: 'schedule', href: '/schedule', label: 'Schedule' },
  { id: 'fleet', href: '/fleet', label: 'Fleet' },
  { id: 'drift', href: '/drift', label: 'Accounts drift' },
  { id: 'commands', href: '/commands', label: 'Commands' },
  { id: 'sql', href: '/sql', label: 'SQL', adminOnly: true },
  { id: 'audit', href: '/audit', label: 'Audit log' },
];

export function csrfField(token: string): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

export function adminPage(ctx: AdminPageContext, body: SafeHtml): string {
  const u = ctx.user;
  const nav = u
    ? html`<nav class="rail" aria-label="Main">
  <a class="brand" href="/dashboard"><span class="logo" aria-hidden="true">◆</span> Athena <span class="muted">ops</span></a>
  <ul>${NAV.filter((n) => !n.adminOnly || u.role === 'admin').map((n) => html`<li><a href="${n.href}"${n.id === ctx.active ? html` aria-current="page" class="active"` : ''}>${n.label}</a></li>`)}</ul>
</nav>`
    : '';
  const top = u
    ? html`<header class="topbar">
  <h1>${ctx.title}</h1>
  <div class="who"><span class="muted">${u.email}</span> <span class="badge tone-${u.role === 'admin' ? 'info' : 'mute'}">${u.role}</span>
    <form method="post" action="/logout" class="inline">${csrfField(ctx.csrf)}<button type="submit" class="link">Log out</button></form></div>
</header>`
    : '';
  const flash = ctx.flash ? html`<div class="flash flash-${ctx.flash.type}" role="status">${ctx.flash.text}</div>` : '';
  const scripts = [...(u ? ['admin.js'] : []), ...(ctx.scripts ?? [])];
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="${ctx.csrf}">
<meta name="robots" content="noindex, nofollow">
<title>${ctx.title} · Athena</title>
<link rel="stylesheet" href="${assetUrl('admin.css')}">
<link rel="icon" href="${assetUrl('favicon.svg')}" type="image/svg+xml">
${ctx.noscriptRefresh ? html`<noscript><meta http-equiv="refresh" content="${ctx.noscriptRefresh}"></noscript>` : ''}
${scripts.map((s) => html`<script src="${assetUrl(s)}" nonce="${ctx.nonce}" defer></script>`)}
</head>
<body class="admin${u ? '' : ' guest'}">
${nav}
<div class="main">
${top}
${flash}
<main id="content">
${body}
</main>
</div>
</body>
</html>`.value;
}
