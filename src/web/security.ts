/**
 * Security headers for every vhost.
 *  - The static headers come from `helmet` (computed once at start-up, then copied onto every response,
 *    because building a helmet middleware per request was a measurable share of a request's cost):
 *    X-Frame-Options DENY, X-Content-Type-Options nosniff, Referrer-Policy strict-origin-when-cross-origin,
 *    Cross-Origin-Resource-Policy same-site, Origin-Agent-Cluster, X-DNS-Prefetch-Control off, …
 *  - Content-Security-Policy: default-src 'self'; scripts and styles from 'self' only — no
 *    'unsafe-inline', no 'unsafe-eval'; admin HTML pages add a per-request nonce that their <script> tags
 *    carry; no plugins; forms post only to 'self'; frame-ancestors 'none'.
 *  - Permissions-Policy denying camera, microphone, geolocation, payment and USB.
 *  - Over TLS only (the socket, or X-Forwarded-Proto from a proxy listed in WEB_TRUSTED_PROXIES):
 *    HSTS (1 year, includeSubDomains) and Cross-Origin-Opener-Policy same-origin. Never on plain HTTP,
 *    so a spoofed X-Forwarded-Proto cannot pin a host to HTTPS.
 * Headers are set on the raw response, so they also cover hijacked replies (SSE).
 */
import crypto from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import helmet from 'helmet';

export const PERMISSIONS_POLICY = 'camera=(), microphone=(), geolocation=(), payment=(), usb=()';
export const HSTS = 'max-age=31536000; includeSubDomains';

const DIRECTIVES: Array<[string, string]> = [
  ['default-src', "'self'"],
  ['script-src', "'self'"],
  ['style-src', "'self'"],
  ['img-src', "'self' data:"],
  ['font-src', "'self'"],
  ['connect-src', "'self'"],
  ['object-src', "'none'"],
  ['base-uri', "'self'"],
  ['form-action', "'self'"],
  ['frame-ancestors', "'none'"],
];

export function contentSecurityPolicy(nonce: string | null): string {
  return DIRECTIVES.map(([k, v]) => (nonce && (k === 'script-src' || k === 'style-src') ? `${k} ${v} 'nonce-${nonce}'` : `${k} ${v}`)).join('; ');
}

/** Run helmet once against a stub response and keep the headers it sets. */
export function helmetHeaders(): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  const res = {
    setHeader(name: string, value: string | number | string[]) {
      headers.push([name.toLowerCase(), String(value)]);
    },
    removeHeader() {},
  } as unknown as ServerResponse;
  const mw = helmet({
    contentSecurityPolicy: false,
    crossOriginOpenerPolicy: false,
    crossOriginEmbedderPolicy: false,
    strictTransportSecurity: false,
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'strict-origin-when-cross-origin' },
    crossOriginResourcePolicy: { policy: 'same-site' },
  });
  mw({} as IncomingMessage, res, (err?: unknown) => {
    if (err) throw err;
  });
  return headers;
}

declare module 'fastify' {
  interface FastifyReply {
    /** The CSP nonce of this response (admin HTML pages only); <script> tags must carry it. */
    cspNonce: { script: string; style: string } | null;
  }
}

export function registerSecurityHeaders(app: FastifyInstance, needsNonce: (req: FastifyRequest) => boolean): void {
  const base = helmetHeaders();
  const plainCsp = contentSecurityPolicy(null);
  app.decorateReply('cspNonce', null);
  app.addHook('onRequest', (request, reply, done) => {
    const raw = reply.raw;
    for (const [k, v] of base) raw.setHeader(k, v);
    raw.setHeader('permissions-policy', PERMISSIONS_POLICY);
    if (needsNonce(request)) {
      const nonce = crypto.randomBytes(16).toString('base64');
      reply.cspNonce = { script: nonce, style: nonce };
      raw.setHeader('content-security-policy', contentSecurityPolicy(nonce));
    } else {
      raw.setHeader('content-security-policy', plainCsp);
    }
    if (request.protocol === 'https') {
      raw.setHeader('strict-transport-security', HSTS);
      raw.setHeader('cross-origin-opener-policy', 'same-origin');
    }
    done();
  });
}
