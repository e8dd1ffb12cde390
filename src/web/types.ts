/** Request/session typing shared by the web modules. */
import type { Vhost } from './vhost.js';
import type { Role } from '../db/repositories/users.js';

export interface SessionUser {
  id: number;
  email: string;
  role: Role;
}

export interface Flash {
  type: 'ok' | 'error' | 'info';
  text: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    vhost: Vhost | null;
    user: SessionUser | null;
  }
  interface FastifyContextConfig {
    /** Reachable without a session (login pages, /up). */
    public?: boolean;
    /** Only the admin role may call this route. */
    adminOnly?: boolean;
  }
}
