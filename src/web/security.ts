/**
 * Security headers for every vhost (through @fastify/helmet) plus the two helmet does not cover here:
 *  - CSP: default-src 'self'; scripts and styles from 'self' plus a per-request nonce — no 'unsafe-inline',
 *    no 'unsafe-eval'; no plugins; forms post only to 'self'; frame-ancestors 'none';
 *  - X-Frame-Options DENY, nosniff, Referrer-Policy strict-origin-when-cross-origin, CORP same-site
 *    (helmet), COOP same-origin over TLS, and a Permissions-Policy that denies camera, microphone, geolocation,
 *    payment and USB (added below);
 *  - HSTS (1 year, includeSubDomains) only when the request arrived over TLS, as told by the socket or by
 *    X-Forwarded-Proto from a trusted proxy (WEB_TRUSTED_PROXIES); never on plain HTTP.
 */
import type { FastifyInstance } from 'fastify';
import helmet from '@fastify/helmet';

export const PERMISSIONS_POLICY = 'camera=(), microphone=(), geolocation=(), payment=(), usb=()';
export const HSTS = 'max-age=31536000; includeSubDomains';

export async function registerSecurityHeaders(app: FastifyInstance): Promise<void> {
  await app.register(helmet, {
    enableCSPNonces: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'strict-origin-when-cross-origin' },
    crossOriginOpenerPolicy: false, // sent below, over TLS only: browsers ignore (and warn about) it on plain HTTP
    crossOriginResourcePolicy: { policy: 'same-site' },
    strictTransportSecurity: false,
  });
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('permissions-policy', PERMISSIONS_POLICY);
    if (request.protocol === 'https') {
      reply.header('strict-transport-security', HSTS);
      reply.header('cross-origin-opener-policy', 'same-origin');
    }
    return payload;
  });
}
