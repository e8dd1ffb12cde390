/** Helpers the admin route modules share: rendering a page, flash messages, redirects, JSON/HTML errors. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SafeHtml } from '../html.js';
import type { Flash } from '../types.js';
import { adminPage, type AdminPageContext } from './layout.js';

export function setFlash(req: FastifyRequest, type: Flash['type'], text: string): void {
  req.session.flash = { type, text };
}

export function popFlash(req: FastifyRequest): Flash | null {
  const f = req.session?.flash ?? null;
  if (f) delete req.session.flash;
  return f;
}

export function csrfToken(reply: FastifyReply): string {
  return reply.generateCsrf();
}

export function renderPage(
  req: FastifyRequest,
  reply: FastifyReply,
  opts: { title: string; active: string; body: SafeHtml; scripts?: string[]; noscriptRefresh?: number; status?: number },
): FastifyReply {
  const ctx: AdminPageContext = {
    title: opts.title,
    active: opts.active,
    user: req.user ? { email: req.user.email, role: req.user.role } : null,
    csrf: csrfToken(reply),
    nonce: reply.cspNonce?.script ?? '',
    flash: popFlash(req),
    scripts: opts.scripts,
    noscriptRefresh: opts.noscriptRefresh,
  };
  return reply
    .code(opts.status ?? 200)
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(adminPage(ctx, opts.body));
}

export function back(reply: FastifyReply, to: string): FastifyReply {
  // only same-site relative paths, so a crafted "next" or referer cannot redirect off-site
  const safe = /^\/(?!\/)[^\s\\]*$/.test(to) ? to : '/dashboard';
  return reply.code(303).header('location', safe).send();
}

export function intParam(v: unknown): number | null {
  const s = Array.isArray(v) ? v[0] : v;
  if (typeof s !== 'string' && typeof s !== 'number') return null;
  const n = Number(s);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

export function strParam(v: unknown, max = 200): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (typeof s !== 'string') return undefined;
  const t = s.trim();
  return t ? t.slice(0, max) : undefined;
}
