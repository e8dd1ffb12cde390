/**
 * Host-header routing. The three public names come from configuration (ADMIN_HOST, MARKETING_HOST,
 * DOCS_HOST); the port is ignored, so the same names work behind a proxy and on a dev port. Anything
 * else is answered 421 Misdirected Request before any route runs. Routes of each vhost carry a
 * find-my-way constraint `vhost`, so the three sites can use the same paths ("/", "/up", …).
 */
import type { IncomingMessage } from 'node:http';
import type { ConstraintStrategy, HTTPVersion } from 'find-my-way';

export type Vhost = 'admin' | 'docs' | 'marketing';
export const VHOSTS: Vhost[] = ['admin', 'docs', 'marketing'];

export interface VhostNames {
  adminHost: string;
  docsHost: string;
  marketingHost: string;
}

export function hostWithoutPort(host: string | undefined): string {
  if (!host) return '';
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1); // IPv6 literal
  const i = h.lastIndexOf(':');
  return (i >= 0 ? h.slice(0, i) : h).replace(/\.$/, '');
}

export function makeVhostResolver(names: VhostNames): (host: string | undefined) => Vhost | null {
  const map = new Map<string, Vhost>([
    [names.adminHost.toLowerCase(), 'admin'],
    [names.docsHost.toLowerCase(), 'docs'],
    [names.marketingHost.toLowerCase(), 'marketing'],
  ]);
  return (host) => map.get(hostWithoutPort(host)) ?? null;
}

/** A find-my-way constraint strategy keyed by the vhost of the request. */
export function vhostConstraint(resolve: (host: string | undefined) => Vhost | null): ConstraintStrategy<HTTPVersion.V1, string> {
  type Store = ReturnType<ReturnType<ConstraintStrategy<HTTPVersion.V1, string>['storage']>['get']>;
  return {
    name: 'vhost',
    storage() {
      const handlers = new Map<string, Store>();
      return {
        get: (value: string) => handlers.get(value) ?? null,
        set: (value: string, store: Store) => {
          handlers.set(value, store);
        },
      };
    },
    deriveConstraint(req: IncomingMessage) {
      return resolve(req.headers.host) ?? 'unknown';
    },
    mustMatchWhenDerived: false,
    validate(value: unknown) {
      if (!VHOSTS.includes(value as Vhost)) throw new Error(`unknown vhost constraint ${String(value)}`);
    },
  };
}
