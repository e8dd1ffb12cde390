/**
 * DATABASE_URL parsing. Pure: it imports no driver, so configuration stays cheap to load.
 *   sqlite:<path>                          relative paths resolve against the project root
 *   postgres://user:pass@host:port/db      also postgresql://; ?schema=NAME sets the search path
 *   mysql://user:pass@host:port/db         also mariadb://
 */
import path from 'node:path';
import { projectRoot } from '../support/paths.js';

export type DbClient = 'sqlite' | 'pg' | 'mysql';

export interface DatabaseTarget {
  client: DbClient;
  url: string;
  /** SQLite only: absolute file path, or ':memory:'. */
  filename?: string;
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  /** PostgreSQL only: schema used as search_path (tests isolate themselves this way). */
  schema?: string;
}

export function parseDatabaseUrl(url: string): DatabaseTarget {
  const raw = url.trim();
  if (raw.startsWith('sqlite:')) {
    let p = raw.slice('sqlite:'.length);
    if (p.startsWith('//')) p = p.slice(2);
    if (!p) throw new Error('sqlite: needs a file path, e.g. sqlite:storage/athena.sqlite');
    const filename = p === ':memory:' ? p : path.isAbsolute(p) ? p : path.resolve(projectRoot, p);
    return { client: 'sqlite', url: raw, filename };
  }
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error('must be sqlite:<path>, postgres://user:pass@host:port/db or mysql://user:pass@host:port/db');
  }
  const proto = u.protocol.replace(/:$/, '');
  const client: DbClient | null =
    proto === 'postgres' || proto === 'postgresql' ? 'pg' : proto === 'mysql' || proto === 'mariadb' ? 'mysql' : null;
  if (!client) throw new Error(`unsupported scheme "${proto}:" (use sqlite:, postgres:// or mysql://)`);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!database) throw new Error('names no database (…/dbname)');
  if (!u.hostname) throw new Error('names no host');
  const port = u.port ? Number(u.port) : client === 'pg' ? 5432 : 3306;
  const schema = u.searchParams.get('schema') ?? undefined;
  if (schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) throw new Error(`schema "${schema}" is not a valid identifier`);
  return {
    client,
    url: raw,
    host: u.hostname,
    port,
    user: decodeURIComponent(u.username) || (client === 'pg' ? 'postgres' : 'root'),
    password: decodeURIComponent(u.password) || undefined,
    database,
    schema,
  };
}
