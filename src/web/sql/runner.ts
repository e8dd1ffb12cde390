/**
 * Runs one SQL page query with layers 2 and 3 of the read-only guarantee (layer 1 is ./check.ts):
 *  - PostgreSQL: a fresh connection whose session is READ ONLY, a `BEGIN READ ONLY` transaction that is
 *    always rolled back, `SET LOCAL statement_timeout`, and the extended query protocol (which refuses a
 *    second statement at the protocol level);
 *  - MySQL/MariaDB: a fresh connection with `SET SESSION TRANSACTION READ ONLY`, `START TRANSACTION READ ONLY`
 *    (rolled back), max_execution_time (MySQL) or max_statement_time (MariaDB), multi-statements off;
 *  - SQLite: a separate process opening the file read-only with query_only=ON, killed at the timeout.
 * A client-side timer (timeout + 5 s) is the last net: it gives up on the connection or process.
 * Results are paged by wrapping the query: SELECT * FROM (<q>) AS athena_q LIMIT n+1 OFFSET m.
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import type { DatabaseTarget } from '../../db/url.js';
import { projectRoot } from '../../support/paths.js';
import type { SqlDialect } from './check.js';

export const PAGE_SIZES = [25, 50, 100, 500];
export const MAX_ROWS_TOTAL = 10_000;

export class SqlRunError extends Error {
  constructor(
    message: string,
    readonly code: 'timeout' | 'error',
  ) {
    super(message);
    this.name = 'SqlRunError';
  }
}

export interface SqlPage {
  columns: string[];
  rows: unknown[][];
  hasMore: boolean;
  page: number;
  perPage: number;
  durationMs: number;
}

export function dialectOf(target: DatabaseTarget): SqlDialect {
  return target.client;
}

function cell(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? String(v) : v.toISOString();
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v)) return `\\x${v.subarray(0, 64).toString('hex')}${v.length > 64 ? `… (${v.length} bytes)` : ''}`;
  if (typeof v === 'object') return JSON.stringify(v);
  return v;
}

function wrap(sql: string, kind: 'select' | 'explain', limit: number, offset: number): { text: string; limit: number; offset: number; wrapped: boolean } {
  if (kind === 'explain') return { text: sql, limit, offset, wrapped: false };
  return { text: `SELECT * FROM (\n${sql}\n) AS athena_q LIMIT ${limit} OFFSET ${offset}`, limit, offset, wrapped: true };
}

export class SqlRunner {
  readonly dialect: SqlDialect;

  constructor(
    private readonly target: DatabaseTarget,
    private readonly timeoutMs: number,
  ) {
    this.dialect = target.client;
  }

  /** Fetch one page (page is 1-based). `maxRows` caps an unpaged fetch (CSV export). */
  async run(sql: string, kind: 'select' | 'explain', page: number, perPage: number): Promise<SqlPage> {
    const offset = (page - 1) * perPage;
    if (offset + perPage > MAX_ROWS_TOTAL) throw new SqlRunError(`Pages stop at row ${MAX_ROWS_TOTAL}; narrow the query with WHERE or ORDER BY instead.`, 'error');
    const w = wrap(sql, kind, perPage + 1, offset);
    const started = process.hrtime.bigint();
    let res: { columns: string[]; rows: unknown[][] };
    if (this.target.client === 'pg') res = await this.runPg(w.text);
    else if (this.target.client === 'mysql') res = await this.runMysql(w.text);
    else res = await this.runSqlite(w.text, w.wrapped ? perPage + 1 : offset + perPage + 1);
    let rows = res.rows;
    if (!w.wrapped) rows = rows.slice(offset);
    const hasMore = rows.length > perPage;
    return {
      columns: res.columns,
      rows: rows.slice(0, perPage).map((r) => r.map(cell)),
      hasMore,
      page,
      perPage,
      durationMs: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10,
    };
  }

  private timeoutError(): SqlRunError {
    return new SqlRunError(`The query ran longer than the ${this.timeoutMs / 1000} s statement timeout and was stopped.`, 'timeout');
  }

  private async guard<T>(work: Promise<T>, onGiveUp: () => void): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onGiveUp();
        reject(this.timeoutError());
      }, this.timeoutMs + 5000);
    });
    try {
      return await Promise.race([work, giveUp]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async runPg(text: string): Promise<{ columns: string[]; rows: unknown[][] }> {
    const pg = (await import('pg')).default;
    const t = this.target;
    const client = new pg.Client({ host: t.host, port: t.port, user: t.user, password: t.password, database: t.database, application_name: 'athena-web-sql' });
    client.on('error', () => undefined); // errors surface through the awaited queries below
    const work = (async () => {
      await client.connect();
      try {
        if (t.schema) await client.query(`SET search_path TO "${t.schema.replace(/"/g, '""')}"`);
        await client.query('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY');
        await client.query('BEGIN TRANSACTION READ ONLY');
        await client.query(`SET LOCAL statement_timeout = ${Math.round(this.timeoutMs)}`);
        try {
          const r = await client.query({ text, rowMode: 'array', queryMode: 'extended' } as import('pg').QueryConfig & { rowMode: 'array'; queryMode: 'extended' });
          return { columns: r.fields.map((f) => f.name), rows: r.rows as unknown[][] };
        } catch (err) {
          if ((err as { code?: string }).code === '57014') throw this.timeoutError();
          throw new SqlRunError((err as Error).message, 'error');
        } finally {
          await client.query('ROLLBACK').catch(() => undefined); // the connection is closed right after anyway
        }
      } finally {
        await client.end().catch(() => undefined); // closing a broken connection may fail; nothing is left open
      }
    })();
    return this.guard(work, () => void client.end().catch(() => undefined));
  }

  private async runMysql(text: string): Promise<{ columns: string[]; rows: unknown[][] }> {
    const mysql = await import('mysql2/promise');
    const t = this.target;
    const conn = await mysql.createConnection({
      host: t.host,
      port: t.port,
      user: t.user,
      password: t.password,
      database: t.database,
      timezone: 'Z',
      supportBigNumbers: true,
      bigNumberStrings: true,
      decimalNumbers: false,
      dateStrings: false,
      multipleStatements: false,
    });
    conn.on('error', () => undefined); // errors surface through the awaited queries below
    const work = (async () => {
      try {
        await conn.query("SET time_zone = '+00:00'");
        const [ver] = (await conn.query('SELECT VERSION() AS v')) as unknown as [Array<{ v: string }>];
        if (/mariadb/i.test(ver[0]?.v ?? '')) await conn.query(`SET SESSION max_statement_time = ${(this.timeoutMs / 1000).toFixed(3)}`);
        else await conn.query(`SET SESSION max_execution_time = ${Math.round(this.timeoutMs)}`);
        await conn.query('SET SESSION TRANSACTION READ ONLY');
        await conn.query('START TRANSACTION READ ONLY');
        try {
          const [rows, fields] = (await conn.query({ sql: text, rowsAsArray: true })) as unknown as [unknown[][], Array<{ name: string }>];
          if (!Array.isArray(fields)) throw new SqlRunError('The statement returned no result set.', 'error');
          return { columns: fields.map((f) => f.name), rows };
        } catch (err) {
          if (err instanceof SqlRunError) throw err;
          const e = err as { errno?: number; message: string };
          if (e.errno === 1969 || e.errno === 3024 || /max_statement_time|maximum statement execution time/i.test(e.message)) throw this.timeoutError();
          throw new SqlRunError(e.message, 'error');
        } finally {
          await conn.query('ROLLBACK').catch(() => undefined); // the connection is closed right after anyway
        }
      } finally {
        await conn.end().catch(() => undefined); // closing a broken connection may fail; nothing is left open
      }
    })();
    return this.guard(work, () => conn.destroy());
  }

  private runSqlite(text: string, maxRows: number): Promise<{ columns: string[]; rows: unknown[][] }> {
    const filename = this.target.filename;
    if (!filename || filename === ':memory:') return Promise.reject(new SqlRunError('The SQL page needs a SQLite file (not :memory:).', 'error'));
    const script = path.join(projectRoot, 'dist', 'web', 'sql', 'sqlite-child.js');
    return new Promise((resolve, reject) => {
      const child = fork(script, [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: [] });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };
      const kill = () => {
        child.kill('SIGKILL');
        finish(() => reject(this.timeoutError()));
      };
      // Until the statement is prepared, allow for process start-up (a loaded box can take seconds);
      // from then on the statement timeout applies.
      let timer = setTimeout(() => {
        child.kill('SIGKILL');
        finish(() => reject(new SqlRunError('The SQLite reader did not start in time.', 'error')));
      }, 15_000);
      child.on('message', (m: { ready?: boolean; ok?: boolean; columns?: string[]; rows?: unknown[][]; error?: string }) => {
        if (m.ready) {
          clearTimeout(timer);
          timer = setTimeout(kill, this.timeoutMs);
          return;
        }
        finish(() => (m.ok ? resolve({ columns: m.columns!, rows: m.rows! }) : reject(new SqlRunError(m.error ?? 'query failed', 'error'))));
      });
      child.once('error', (err) => finish(() => reject(new SqlRunError(`could not start the SQLite reader: ${err.message}`, 'error'))));
      child.once('exit', (code) => finish(() => reject(new SqlRunError(`the SQLite reader exited (${code}) ${stderr.trim()}`.trim(), 'error'))));
      child.send({ filename, sql: text, params: [], maxRows });
    });
  }
}
