/** Build the real web app (fastify) on a test context, and log in through the real login form. */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Redis } from 'ioredis';
import { loadConfig, type AppConfig } from '../../../src/config/index.js';
import { connectRedis, closeRedis } from '../../../src/redis/connection.js';
import { createLogger } from '../../../src/support/log.js';
import { systemClock, type Clock } from '../../../src/support/clock.js';
import { buildWebApp } from '../../../src/web/server.js';
import type { WebServices } from '../../../src/web/services.js';
import type { TestContext } from '../../support/context.js';

export const HOSTS = { ADMIN_HOST: 'admin.athena.test', DOCS_HOST: 'docs.athena.test', MARKETING_HOST: 'athena.test' };

export interface TestWeb {
  app: FastifyInstance;
  services: WebServices;
  config: AppConfig;
  redis: Redis;
  close(): Promise<void>;
}

export async function buildTestWeb(ctx: TestContext, env: Record<string, string> = {}, clock: Clock = systemClock): Promise<TestWeb> {
  const config = loadConfig({ ...ctx.env, ...HOSTS, WEB_TRUSTED_PROXIES: '127.0.0.1', ...env });
  const redis = await connectRedis(config.redis, 'daemon');
  const { app, services } = await buildWebApp({ config, db: ctx.db, redis, clock, log: createLogger('web-test') });
  await app.ready();
  return {
    app,
    services,
    config,
    redis,
    async close() {
      await app.close();
      await closeRedis(redis);
    },
  };
}

export class Browserless {
  cookies = new Map<string, string>();
  constructor(
    private readonly app: FastifyInstance,
    private readonly host = HOSTS.ADMIN_HOST,
  ) {}

  private cookieHeader(): string {
    return [...this.cookies.entries()].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keep(res: LightMyRequestResponse): void {
    for (const c of res.cookies as Array<{ name: string; value: string; maxAge?: number; expires?: Date }>) {
      if (c.value === '' || (c.expires && c.expires.getTime() < Date.now())) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
  }

  async get(url: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    const res = await this.app.inject({ method: 'GET', url, headers: { host: this.host, cookie: this.cookieHeader(), ...headers } });
    this.keep(res);
    return res;
  }

  async post(url: string, form: Record<string, string | string[]>, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
    const res = await this.app.inject({ method: 'POST', url, payload: body.toString(), headers: { host: this.host, cookie: this.cookieHeader(), 'content-type': 'application/x-www-form-urlencoded', ...headers } });
    this.keep(res);
    return res;
  }

  async postJson(url: string, json: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    const res = await this.app.inject({ method: 'POST', url, payload: JSON.stringify(json), headers: { host: this.host, cookie: this.cookieHeader(), 'content-type': 'application/json', ...headers } });
    this.keep(res);
    return res;
  }

  /** The CSRF token of a page (the hidden form field, or the meta tag). */
  async csrf(url = '/login'): Promise<string> {
    const res = await this.get(url);
    const m = /name="_csrf" value="([^"]+)"/.exec(res.body) ?? /name="csrf-token" content="([^"]+)"/.exec(res.body);
    if (!m) throw new Error(`no CSRF token on ${url} (status ${res.statusCode})`);
    return m[1]!;
  }

  async login(email: string, password: string): Promise<LightMyRequestResponse> {
    const token = await this.csrf('/login');
    return this.post('/login', { _csrf: token, email, password, next: '/dashboard' });
  }
}
