/** Login (password, then TOTP when enabled), logout. Throttled per e-mail + IP; every outcome is audited. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { findUserByEmail, findUserById, getTotpSecret, recordLogin } from '../../db/repositories/users.js';
import { burnPasswordCheck, verifyPassword } from '../auth/passwords.js';
import { checkTotp } from '../auth/totp.js';
import { html } from '../html.js';
import type { WebServices } from '../services.js';
import { csrfField } from './layout.js';
import { renderPage, strParam } from './page.js';

const TWO_FACTOR_WINDOW_MS = 5 * 60_000;

function safeNext(v: unknown): string {
  const n = typeof v === 'string' ? v : '';
  return /^\/(?!\/)[^\s\\]*$/.test(n) && !n.startsWith('/login') ? n : '/dashboard';
}

function loginForm(req: FastifyRequest, reply: FastifyReply, opts: { error?: string; email?: string; next: string; status?: number }) {
  const body = html`<div class="auth-box">
  <h2>Operator login</h2>
  ${opts.error ? html`<p class="flash flash-error" role="alert">${opts.error}</p>` : ''}
  <form method="post" action="/login" class="stack">
    ${csrfField(reply.generateCsrf())}
    <input type="hidden" name="next" value="${opts.next}">
    <label>E-mail <input type="email" name="email" autocomplete="username" required value="${opts.email ?? ''}" autofocus></label>
    <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
    <button type="submit" class="primary">Log in</button>
  </form>
  <p class="muted small">Accounts are created on the box with <code>bin/artisan user:create</code>.</p>
</div>`;
  return renderPage(req, reply, { title: 'Log in', active: '', body, status: opts.status });
}

function twoFactorForm(req: FastifyRequest, reply: FastifyReply, opts: { error?: string; next: string; status?: number }) {
  const body = html`<div class="auth-box">
  <h2>Two-factor code</h2>
  ${opts.error ? html`<p class="flash flash-error" role="alert">${opts.error}</p>` : ''}
  <p class="muted">Enter the 6-digit code from your authenticator app.</p>
  <form method="post" action="/login/2fa" class="stack">
    ${csrfField(reply.generateCsrf())}
    <input type="hidden" name="next" value="${opts.next}">
    <label>Code <input type="text" name="code" inputmode="numeric" pattern="[0-9 ]{6,7}" autocomplete="one-time-code" required autofocus></label>
    <button type="submit" class="primary">Verify</button>
  </form>
  <form method="post" action="/logout" class="inline">${csrfField(reply.generateCsrf())}<button type="submit" class="link">Cancel</button></form>
</div>`;
  return renderPage(req, reply, { title: 'Two-factor code', active: '', body, status: opts.status });
}

export function registerAuthRoutes(app: FastifyInstance, s: WebServices): void {
  const complete = async (req: FastifyRequest, reply: FastifyReply, user: { id: number; email: string }, next: string, method: string) => {
    await req.session.regenerate();
    const now = s.clock.now();
    req.session.userId = user.id;
    req.session.authAt = now;
    req.session.lastSeen = now;
    await recordLogin(s.db, user.id, req.ip, new Date(now));
    await s.throttle.clear(user.email, req.ip);
    await s.audit(req, 'login', user.email, { method }, { id: user.id, email: user.email });
    return reply.code(303).header('location', next).send();
  };

  app.get('/login', { config: { public: true } }, async (req, reply) => {
    if (req.user) return reply.code(302).header('location', '/dashboard').send();
    return loginForm(req, reply, { next: safeNext((req.query as Record<string, unknown>).next) });
  });

  app.post('/login', { config: { public: true } }, async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const email = (strParam(body.email, 191) ?? '').toLowerCase();
    const password = typeof body.password === 'string' ? body.password.slice(0, 1024) : '';
    const next = safeNext(body.next);
    if (!email || !password) return loginForm(req, reply, { error: 'Enter your e-mail and password.', email, next, status: 422 });
    const locked = await s.throttle.lockedFor(email, req.ip);
    if (locked > 0) {
      await s.audit(req, 'login.throttled', email, null, { id: null, email });
      return loginForm(req, reply, { error: `Too many failed attempts. Try again in ${locked} seconds.`, email, next, status: 429 });
    }
    const user = await findUserByEmail(s.db, email);
    let ok = false;
    if (user && !user.disabledAt) ok = await verifyPassword(password, user.passwordHash);
    else await burnPasswordCheck(password);
    if (!ok || !user) {
      const n = await s.throttle.fail(email, req.ip);
      await s.audit(req, 'login.failed', email, { failures: n }, { id: null, email });
      return loginForm(req, reply, { error: 'These credentials do not match an operator account.', email, next, status: 401 });
    }
    if (user.hasTotp) {
      await req.session.regenerate();
      req.session.pending2fa = { userId: user.id, email: user.email, at: s.clock.now() };
      return reply.code(303).header('location', `/login/2fa?next=${encodeURIComponent(next)}`).send();
    }
    return complete(req, reply, user, next, 'password');
  });

  app.get('/login/2fa', { config: { public: true } }, async (req, reply) => {
    const p = req.session.pending2fa;
    if (!p || s.clock.now() - p.at > TWO_FACTOR_WINDOW_MS) return reply.code(302).header('location', '/login').send();
    return twoFactorForm(req, reply, { next: safeNext((req.query as Record<string, unknown>).next) });
  });

  app.post('/login/2fa', { config: { public: true } }, async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const next = safeNext(body.next);
    const p = req.session.pending2fa;
    if (!p || s.clock.now() - p.at > TWO_FACTOR_WINDOW_MS) {
      delete req.session.pending2fa;
      req.session.flash = { type: 'error', text: 'The login took too long; start again.' };
      return reply.code(303).header('location', '/login').send();
    }
    const locked = await s.throttle.lockedFor(p.email, req.ip);
    if (locked > 0) {
      await s.audit(req, 'login.throttled', p.email, { step: '2fa' }, { id: p.userId, email: p.email });
      return twoFactorForm(req, reply, { error: `Too many failed attempts. Try again in ${locked} seconds.`, next, status: 429 });
    }
    const user = await findUserById(s.db, p.userId);
    const secret = user && !user.disabledAt ? await getTotpSecret(s.db, s.config.appKey!, user.id) : null;
    const now = s.clock.now();
    const counter = secret ? checkTotp(secret, String(body.code ?? ''), now) : null;
    let error: string | null = null;
    if (counter === null) error = 'That code is not valid.';
    else if ((await s.redis.set(`${s.prefix}:web:totp-used:${p.userId}:${counter}`, '1', 'EX', 180, 'NX')) !== 'OK') error = 'That code was already used; wait for the next one.';
    if (error || !user) {
      const n = await s.throttle.fail(p.email, req.ip);
      await s.audit(req, 'login.2fa_failed', p.email, { failures: n }, { id: p.userId, email: p.email });
      return twoFactorForm(req, reply, { error: error ?? 'That code is not valid.', next, status: 401 });
    }
    delete req.session.pending2fa;
    return complete(req, reply, user, next, 'password+totp');
  });

  app.post('/logout', { config: { public: true } }, async (req, reply) => {
    if (req.user) await s.audit(req, 'logout', req.user.email);
    await req.session.destroy();
    return reply.code(303).header('location', '/login').send();
  });
}
