/**
 * Maintenance bypass for the public vhosts, like `down --secret=`: visiting /<secret> while the box is down
 * sets a cookie (an HMAC of the secret, never the secret itself) that lets that browser through, so an
 * operator can check the sites before `up`. Without a secret there is no bypass.
 */
import crypto from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { MaintenanceState } from '../support/box-flags.js';

export const BYPASS_COOKIE = 'athena_maintenance_bypass';

function token(secret: string, appKey: Buffer | null): string {
  return crypto
    .createHmac('sha256', appKey ?? Buffer.from('athena-maintenance'))
    .update(`bypass:${secret}`)
    .digest('base64url');
}

function readCookie(req: FastifyRequest, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return null;
}

export function isMaintenanceBypassed(req: FastifyRequest, down: MaintenanceState, appKey: Buffer | null): boolean {
  if (!down.secret) return false;
  const got = readCookie(req, BYPASS_COOKIE);
  const want = token(down.secret, appKey);
  return !!got && got.length === want.length && crypto.timingSafeEqual(Buffer.from(got), Buffer.from(want));
}

export async function handleMaintenanceSecret(req: FastifyRequest, reply: FastifyReply, down: MaintenanceState, appKey: Buffer | null): Promise<boolean> {
  if (!down.secret) return false;
  const path = req.url.split('?', 1)[0]!;
  if (path !== `/${down.secret}`) return false;
  const secure = req.protocol === 'https' ? '; Secure' : '';
  reply
    .code(302)
    .header('set-cookie', `${BYPASS_COOKIE}=${token(down.secret, appKey)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=43200${secure}`)
    .header('location', '/')
    .header('cache-control', 'no-store')
    .send();
  return true;
}
