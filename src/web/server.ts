/**
 * The `web` server: one fastify instance, three vhosts routed by the Host header.
 *   ADMIN_HOST      the operator UI (login, dashboards, step browser, SQL, commands runner, …)
 *   DOCS_HOST       the public docs rendered from docs/*.md plus a generated CLI reference
 *   MARKETING_HOST  the Kraite landing page, public status, privacy and terms
 * An unknown Host gets 421. Each vhost answers /up. While the box is down (maintenance flag), docs and
 * marketing answer 503 with a maintenance page; the admin stays reachable.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import compress from '@fastify/compress';
import fastifyStatic from '@fastify/static';
import { getMaintenance } from '../support/box-flags.js';
import { ASSETS_DIR, assetUrl } from './assets.js';
import { registerSecurityHeaders } from './security.js';
import { makeVhostResolver, vhostConstraint, type Vhost } from './vhost.js';
import { WebServices, type WebDeps } from './services.js';
import { registerAdmin } from './admin/index.js';
import { registerDocs } from './docs/routes.js';
import { registerMarketing, maintenancePage, notFoundPage, errorPage } from './marketing/routes.js';
import { isMaintenanceBypassed, handleMaintenanceSecret } from './maintenance.js';
import './types.js';

export interface WebApp {
  app: FastifyInstance;
  services: WebServices;
}

function wantsJson(req: FastifyRequest): boolean {
  const url = req.url;
  return url.startsWith('/api/') || url.endsWith('.json') || /application\/json/.test(String(req.headers.accept ?? '')) && !/text\/html/.test(String(req.headers.accept ?? ''));
}

export async function buildWebApp(deps: WebDeps): Promise<WebApp> {
  const { config } = deps;
  const resolveVhost = makeVhostResolver(config.web);
  const app = Fastify({
    logger: false,
    trustProxy: config.web.trustedProxies.length ? config.web.trustedProxies : false,
    bodyLimit: 512 * 1024,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, constraints: { vhost: vhostConstraint(resolveVhost) } },
  });
  const services = new WebServices(deps);
  const log = deps.log;

  app.decorateRequest('vhost', null);
  app.decorateRequest('user', null);

  // 1. Host routing: nothing runs for an unknown host.
  app.addHook('onRequest', async (request, reply) => {
    request.vhost = resolveVhost(request.headers.host);
    if (!request.vhost) {
      return reply.code(421).type('text/plain; charset=utf-8').header('cache-control', 'no-store').send('421 Misdirected Request: this server does not serve that host name.\n');
    }
  });

  registerSecurityHeaders(app, (req) => req.vhost === 'admin' && !req.url.startsWith('/api/') && !req.url.startsWith('/assets/'));
  await app.register(compress, { global: true, threshold: 1024, encodings: ['br', 'gzip', 'deflate'], brotliOptions: { params: { [(await import('node:zlib')).constants.BROTLI_PARAM_QUALITY]: 4 } } });
  await app.register(fastifyStatic, { root: ASSETS_DIR, prefix: '/assets/', decorateReply: false, maxAge: '365d', immutable: true, etag: true, lastModified: true, index: false, list: false });

  // 2. Maintenance: public vhosts answer 503 while the box is down (admin, /up and assets excepted).
  let maintenance: { at: number; value: Awaited<ReturnType<typeof getMaintenance>> } | null = null;
  app.addHook('onRequest', async (request, reply) => {
    if (request.vhost === 'admin' || request.vhost === null) return;
    const path = request.url.split('?', 1)[0]!;
    if (path === '/up' || path.startsWith('/assets/')) return;
    const now = Date.now();
    if (!maintenance || now - maintenance.at > 1000) {
      try {
        maintenance = { at: now, value: await getMaintenance(services.redis, services.prefix) };
      } catch (err) {
        // Redis unreadable: serve the pages (they degrade on their own) rather than claim maintenance
        log.warn('maintenance flag unreadable', { err });
        maintenance = { at: now, value: null };
      }
    }
    const down = maintenance.value;
    if (!down) return;
    if (await handleMaintenanceSecret(request, reply, down, config.appKey)) return reply;
    if (isMaintenanceBypassed(request, down, config.appKey)) return;
    reply.code(503).header('retry-after', String(down.retry ?? 60)).header('cache-control', 'no-store').type('text/html; charset=utf-8');
    return reply.send(maintenancePage(request.vhost, down, reply.cspNonce?.script ?? ''));
  });

  app.get('/favicon.ico', { config: { public: true } }, async (_req, reply) => reply.code(301).header('cache-control', 'public, max-age=86400').header('location', assetUrl('favicon.svg')).send());

  // 3. /up on every vhost (no session, no DB): the process answers.
  app.get('/up', { config: { public: true } }, async (request, reply) => {
    reply.header('cache-control', 'no-store').type('text/plain; charset=utf-8');
    return `up ${request.vhost}\n`;
  });

  app.setNotFoundHandler(async (request, reply) => {
    if (wantsJson(request)) return reply.code(404).send({ error: 'Not found' });
    reply.code(404).type('text/html; charset=utf-8');
    return notFoundPage(request.vhost ?? 'marketing', request.url, reply.cspNonce?.script ?? '');
  });

  app.setErrorHandler(async (error: Error & { statusCode?: number; code?: string; validation?: unknown }, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    let message = status < 500 ? error.message : 'Something went wrong on our side.';
    if (error.code === 'FST_CSRF_INVALID_TOKEN' || error.code === 'FST_CSRF_MISSING_SECRET') message = 'Your form expired or did not come from this site (invalid CSRF token). Reload the page and try again.';
    if (status >= 500) log.error('request failed', { method: request.method, url: request.url.split('?', 1)[0], err: error });
    reply.code(status).header('cache-control', 'no-store');
    if (wantsJson(request)) return reply.send({ error: message });
    reply.type('text/html; charset=utf-8');
    return errorPage((request.vhost ?? 'marketing') as Vhost, status, message, reply.cspNonce?.script ?? '');
  });

  // the sites are registered after the handlers above, so they inherit them
  await app.register(async (scope) => registerAdmin(scope, services), {});
  await app.register(async (scope) => registerDocs(scope, services), {});
  await app.register(async (scope) => registerMarketing(scope, services), {});

  app.addHook('preClose', async () => {
    await services.close();
  });

  return { app, services };
}

export type { FastifyReply };
