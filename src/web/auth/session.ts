/**
 * Operator sessions for the admin vhost: a random 256-bit id in an HttpOnly, SameSite=Lax cookie (Secure
 * when the request came over TLS), the data in Redis (./session-store.ts) with a 12 h absolute lifetime.
 *
 * This replaces @fastify/session on purpose: that plugin HMAC-signs the id and hashes the whole session
 * twice on every request (≈15 % of the CPU of a logged-in API request in bench/web). A signature adds
 * nothing to an unguessable random id that only selects a server-side record, and change detection here
 * is one JSON comparison. Semantics kept: nothing is stored or sent until the session holds data;
 * regenerate() issues a fresh id (login, against fixation) and deletes the old record; destroy() deletes
 * the record and clears the cookie. @fastify/csrf-protection keeps its secret in `session._csrf`.
 */
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RedisSessionStore } from './session-store.js';

export const SESSION_MAX_AGE_MS = 12 * 3600_000;
/** A session that holds no login (only a CSRF secret for the login form) lives at most 1 h in Redis. */
export const ANONYMOUS_SESSION_MS = 3600_000;
const ID_RE = /^[A-Za-z0-9_-]{43}$/;

export interface SessionData {
  userId?: number;
  authAt?: number;
  lastSeen?: number;
  pending2fa?: { userId: number; email: string; at: number };
  flash?: { type: 'ok' | 'error' | 'info'; text: string };
  _csrf?: string;
  [key: string]: unknown;
}

const state = Symbol('sessionState');

interface State {
  id: string | null;
  loadedJson: string;
  createdAt: number;
  destroyed: boolean;
  /** Records to delete when the response is sent (regenerated or destroyed ids). */
  drop: string[];
}

export class WebSession implements SessionData {
  [key: string]: unknown;
  declare userId?: number;
  declare authAt?: number;
  declare lastSeen?: number;
  declare pending2fa?: { userId: number; email: string; at: number };
  declare flash?: { type: 'ok' | 'error' | 'info'; text: string };
  declare _csrf?: string;
  declare [state]: State;

  constructor(id: string | null, data: Record<string, unknown> | null, createdAt: number) {
    Object.defineProperty(this, state, { value: { id, loadedJson: data ? JSON.stringify(data) : '{}', createdAt, destroyed: false, drop: [] }, enumerable: false });
    if (data) Object.assign(this, data);
  }

  get sessionId(): string | null {
    return this[state].id;
  }

  /** Drop every value and issue a new id at the next response (login, expiry). */
  async regenerate(): Promise<void> {
    const st = this[state];
    if (st.id) st.drop.push(st.id);
    st.id = null;
    st.loadedJson = '{}';
    st.createdAt = Date.now();
    st.destroyed = false;
    for (const k of Object.keys(this)) delete this[k];
  }

  /** Delete the record and clear the cookie (logout). */
  async destroy(): Promise<void> {
    await this.regenerate();
    this[state].destroyed = true;
  }

  toJSON(): Record<string, unknown> {
    return Object.fromEntries(Object.entries(this));
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    session: WebSession;
  }
}

export interface SessionOptions {
  store: RedisSessionStore;
  cookieName: string;
}

function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  let from = 0;
  for (;;) {
    const i = header.indexOf(name, from);
    if (i < 0) return null;
    const before = i === 0 ? ';' : header[i - 1];
    if ((before === ';' || before === ' ') && header[i + name.length] === '=') {
      const end = header.indexOf(';', i);
      return header.slice(i + name.length + 1, end < 0 ? undefined : end).trim();
    }
    from = i + name.length;
  }
}

function cookieHeader(name: string, value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${name}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

export function installSessions(app: FastifyInstance, opts: SessionOptions): void {
  const { store, cookieName } = opts;
  app.decorateRequest('session', null as unknown as WebSession);

  app.addHook('onRequest', async (req: FastifyRequest) => {
    const id = readCookie(req.headers.cookie, cookieName);
    if (id && ID_RE.test(id)) {
      const rec = await store.read(id);
      if (rec && rec.expiresAt > Date.now()) {
        req.session = new WebSession(id, rec.data, rec.createdAt);
        return;
      }
    }
    req.session = new WebSession(null, null, Date.now());
  });

  app.addHook('onSend', async (req: FastifyRequest, reply: FastifyReply, payload) => {
    const sess = req.session;
    if (!sess) return payload;
    const st = sess[state];
    const secure = req.protocol === 'https';
    for (const old of st.drop.splice(0)) await store.remove(old);
    if (st.destroyed) {
      if (readCookie(req.headers.cookie, cookieName)) reply.header('set-cookie', cookieHeader(cookieName, '', 0, secure));
      return payload;
    }
    const json = JSON.stringify(sess);
    if (json === st.loadedJson) return payload; // unchanged (and nothing to store for an empty new session)
    const expiresAt = st.createdAt + SESSION_MAX_AGE_MS;
    const fresh = st.id === null;
    if (fresh) st.id = crypto.randomBytes(32).toString('base64url');
    const data = JSON.parse(json) as Record<string, unknown>;
    const keepUntil = data.userId || data.pending2fa ? expiresAt : Math.min(expiresAt, Date.now() + ANONYMOUS_SESSION_MS);
    await store.write(st.id!, { data, createdAt: st.createdAt, expiresAt: keepUntil });
    st.loadedJson = json;
    if (fresh) reply.header('set-cookie', cookieHeader(cookieName, st.id!, Math.max(1, Math.floor((expiresAt - Date.now()) / 1000)), secure));
    return payload;
  });
}
