/**
 * The operator UI (ADMIN_HOST). Every route needs a session except those marked `config.public`.
 *  - Sessions (../auth/session.ts): a random 256-bit id in the cookie `athena_session` (HttpOnly,
 *    SameSite=Lax, Secure when the request came over TLS), the data in Redis; 12 h at most,
 *    WEB_SESSION_IDLE_MINUTES idle.
 *  - CSRF: @fastify/csrf-protection on every POST/PUT/PATCH/DELETE (form field `_csrf` or an
 *    x-csrf-token header), the login form included.
 *  - Unauthenticated: HTML routes redirect to /login; /api/* answers 401 JSON.
 *  - Roles: `config.adminOnly` routes answer 403 to viewers.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import csrf from '@fastify/csrf-protection';
import { findUserById } from '../../db/repositories/users.js';
import { RedisSessionStore } from '../auth/session-store.js';
import { installSessions } from '../auth/session.js';
import type { WebServices } from '../services.js';
import type { SessionUser } from '../types.js';
import { errorPage } from '../marketing/routes.js';
import { registerAuthRoutes } from './auth.js';
import { registerDashboard } from './dashboard.js';
import { registerSteps } from './steps.js';
import { registerSql } from './sql.js';
import { registerCommands } from './commands.js';
import { registerFleet } from './fleet.js';
import { registerDrift } from './drift.js';
import { registerSchedule } from './schedule.js';
import { registerQueues } from './queues.js';
import { registerAudit } from './audit.js';
import { UserError } from '../../support/errors.js';

export const SESSION_COOKIE = 'athena_session';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);


export function isApi(req: FastifyRequest): boolean {
  return req.url.startsWith('/api/');
}

function deny(req: FastifyRequest, reply: FastifyReply, status: 401 | 403, message: string): FastifyReply {
  reply.code(status).header('cache-control', 'no-store');
  if (isApi(req) || /application\/json/.test(String(req.headers.accept ?? ''))) return reply.send({ error: message });
  return reply.type('text/html; charset=utf-8').send(errorPage('admin', status, message, reply.cspNonce?.script ?? ''));
}

export async function registerAdmin(app: FastifyInstance, s: WebServices): Promise<void> {
  app.addHook('onRoute', (route) => {
    route.constraints = { ...(route.constraints ?? {}), vhost: 'admin' };
    const cfg = (route.config ?? {}) as { public?: boolean; adminOnly?: boolean };
    for (const m of [route.method].flat()) if (m !== 'HEAD') s.adminRoutes.push({ method: m, url: route.url, public: !!cfg.public, adminOnly: !!cfg.adminOnly });
  });
  if (!s.config.appKey) throw new UserError('APP_KEY is not set; the web server needs it for two-factor secrets. Run `bin/artisan key:generate`.');
  await app.register(cookie);
  installSessions(app, { store: new RedisSessionStore(s.redis, s.prefix), cookieName: SESSION_COOKIE });
  await app.register(formbody, { bodyLimit: 256 * 1024 });
  await app.register(csrf, { sessionPlugin: '@fastify/session' });

  const users = new Map<number, { at: number; user: SessionUser | null }>();
  const loadUser = async (id: number): Promise<SessionUser | null> => {
    const now = Date.now();
    const hit = users.get(id);
    if (hit && now - hit.at < 5000) return hit.user;
    const u = await findUserById(s.db, id);
    const user = u && !u.disabledAt ? { id: u.id, email: u.email, role: u.role } : null;
    users.set(id, { at: now, user });
    return user;
  };

  app.addHook('onRequest', async (req, reply) => {
    const cfg = req.routeOptions.config;
    const sess = req.session;
    const uid = sess?.userId;
    if (uid) {
      const now = s.clock.now();
      const idleMs = s.config.web.sessionIdleMinutes * 60_000;
      if (sess.lastSeen && now - sess.lastSeen > idleMs) {
        await sess.regenerate();
        req.session.flash = { type: 'info', text: 'Your session expired after inactivity. Log in again.' };
      } else {
        req.user = await loadUser(uid);
        if (req.user && (!sess.lastSeen || now - sess.lastSeen > 60_000)) sess.lastSeen = now;
      }
    }
    if (cfg.public) return;
    if (!req.user) {
      if (isApi(req)) return deny(req, reply, 401, 'Authentication required.');
      const next = req.method === 'GET' ? req.url : '/dashboard';
      return reply.code(302).header('cache-control', 'no-store').header('location', `/login?next=${encodeURIComponent(next)}`).send();
    }
    if (cfg.adminOnly && req.user.role !== 'admin') return deny(req, reply, 403, 'This action needs the admin role.');
  });

  app.addHook('preHandler', (req, reply, done) => {
    if (!UNSAFE.has(req.method)) return done();
    app.csrfProtection(req, reply, done);
  });

  registerAuthRoutes(app, s);
  registerDashboard(app, s);
  registerSteps(app, s);
  registerSql(app, s);
  registerCommands(app, s);
  registerFleet(app, s);
  registerDrift(app, s);
  registerSchedule(app, s);
  registerQueues(app, s);
  registerAudit(app, s);

  app.get('/', { config: { public: true } }, async (req, reply) => reply.code(302).header('location', req.user ? '/dashboard' : '/login').send());
}
