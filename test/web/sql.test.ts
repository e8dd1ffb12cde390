/**
 * The SQL page's three layers, each tested on its own: the statement check (pure), then the runner on the
 * real database of DATABASE_URL with the check bypassed (the read-only transaction must still refuse
 * writes, the timeout must still stop a long query), masking, paging and CSV.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { seedDemo } from '../../src/db/seed/demo.js';
import { requireKey } from '../../src/crypto/secrets.js';
import { loadConfig } from '../../src/config/index.js';
import { checkReadOnlySql, type SqlDialect } from '../../src/web/sql/check.js';
import { SqlRunner, SqlRunError } from '../../src/web/sql/runner.js';
import { maskRows, MASK } from '../../src/web/sql/mask.js';
import { toCsv } from '../../src/web/sql/csv.js';
import { hashPassword } from '../../src/web/auth/passwords.js';
import { buildTestWeb, Browserless, type TestWeb } from './support/web.js';
import { seedUser } from './support/fixtures.js';

const DIALECTS: SqlDialect[] = ['sqlite', 'pg', 'mysql'];

describe('statement check', () => {
  const ok = (sql: string, d: SqlDialect = 'pg') => checkReadOnlySql(sql, d);

  it('accepts one SELECT, WITH or EXPLAIN, with one optional trailing semicolon', () => {
    for (const d of DIALECTS) {
      expect(ok('SELECT 1', d).ok).toBe(true);
      expect(ok('  select * from accounts where id = 1 ;  ', d)).toMatchObject({ ok: true, sql: '  select * from accounts where id = 1' });
      expect(ok('WITH a AS (SELECT 1 AS x) SELECT x FROM a', d).ok).toBe(true);
      expect(ok('EXPLAIN SELECT 1', d)).toMatchObject({ ok: true, kind: 'explain' });
    }
    expect(ok('EXPLAIN QUERY PLAN SELECT 1', 'sqlite').ok).toBe(true);
    expect(ok('EXPLAIN (ANALYZE, BUFFERS) SELECT 1', 'pg').ok).toBe(true);
  });

  it('rejects writes, DDL and anything that is not a query', () => {
    for (const d of DIALECTS) {
      for (const sql of ['DELETE FROM accounts', 'UPDATE accounts SET name = 1', 'INSERT INTO accounts (name) VALUES (1)', 'DROP TABLE accounts', 'TRUNCATE accounts', 'SET x = 1', 'PRAGMA table_info(accounts)', 'CALL p()', 'SHOW TABLES', 'EXPLAIN DELETE FROM accounts', 'EXPLAIN ANALYZE UPDATE accounts SET name = 1']) {
        const r = ok(sql, d);
        expect(r.ok, `${d}: ${sql}`).toBe(false);
      }
    }
    expect(ok('DELETE FROM accounts')).toEqual({ ok: false, error: 'Rejected: only SELECT, WITH or EXPLAIN queries are allowed (this one starts with DELETE).' });
  });

  it('rejects a second statement, however it is hidden', () => {
    expect(ok('select 1; select 2')).toEqual({ ok: false, error: 'Rejected: only one statement is allowed (found a ";" between statements).' });
    expect(ok('select 1;;').ok).toBe(false);
    expect(ok('select 1; delete from accounts; --').ok).toBe(false);
    // MySQL: "--" needs a space to start a comment, so "--1;" is code and the ";" is real
    expect(ok('select 1 --1; delete from accounts', 'mysql').ok).toBe(false);
    // PostgreSQL: "#" is an operator, not a comment
    expect(ok('select 1 # 2; delete from accounts', 'pg').ok).toBe(false);
    expect(ok('select 1 /*! ; delete from accounts */', 'mysql').ok).toBe(false);
  });

  it('rejects row locks, INTO, data-modifying CTEs and dangerous functions', () => {
    expect(ok('SELECT * FROM accounts FOR UPDATE')).toEqual({ ok: false, error: 'Rejected: row locks (FOR UPDATE) are not allowed.' });
    for (const sql of ['select * from accounts for share', 'select * from accounts for no key update', 'select * from accounts lock in share mode']) expect(ok(sql, 'mysql').ok, sql).toBe(false);
    expect(ok('WITH d AS (DELETE FROM accounts RETURNING *) SELECT * FROM d').ok).toBe(false);
    expect(ok('select * into copy from accounts').ok).toBe(false);
    expect(ok("select 1 into outfile '/tmp/x'", 'mysql').ok).toBe(false);
    for (const fn of ['pg_sleep(10)', 'pg_advisory_lock(1)', "pg_read_file('/etc/passwd')", "set_config('a','b',false)", "nextval('s')", 'pg_terminate_backend(1)', "dblink_exec('x')", "lo_import('/etc/passwd')"]) expect(ok(`select ${fn}`).ok, fn).toBe(false);
    for (const fn of ['sleep(10)', 'benchmark(1000000, md5(1))', "load_file('/etc/passwd')", "get_lock('a', 1)"]) expect(ok(`select ${fn}`, 'mysql').ok, fn).toBe(false);
    expect(ok("select load_extension('x')", 'sqlite').ok).toBe(false);
    expect(ok('select * from pg_authid').ok).toBe(false);
    expect(ok('select * from mysql.user', 'mysql').ok).toBe(false);
  });

  it('ignores keywords inside strings, quoted names and comments', () => {
    expect(ok("select 'delete; drop table x' as s").ok).toBe(true);
    expect(ok('select 1 -- ; delete from accounts').ok).toBe(true);
    expect(ok('select 1 /* ; update x */').ok).toBe(true);
    expect(ok('select "update" from t').ok).toBe(true);
    expect(ok('select `update` from t', 'mysql').ok).toBe(true);
    expect(ok("select $$; delete$$ as s").ok).toBe(true);
    expect(ok("select 'it''s; fine'").ok).toBe(true);
    expect(ok("select 'a\\'; delete from x; -- '", 'mysql').ok).toBe(true); // backslash escape keeps it inside the string
    expect(ok("select E'a\\'; delete from x'", 'pg').ok).toBe(true);
    expect(ok("select 'a\\'; delete from x", 'pg').ok).toBe(false); // standard strings end at the first quote
    expect(ok('select updated_at from accounts').ok).toBe(true);
    expect(ok("select 'unterminated").ok).toBe(false);
    expect(ok('select /* nested /* comment */ still */ 1', 'pg').ok).toBe(true);
  });
});

describe('masking and CSV', () => {
  it('masks secret columns and secret-looking values whatever the column is called', async () => {
    const hash = await hashPassword('a long enough password');
    const m = maskRows(
      ['id', 'api_key', 'x', 'password_hash', 'context', 'note'],
      [[1, 'abc', 'v1:aaaa:bbbb:cccc', hash, JSON.stringify({ account_id: 1, api_secret: 'zzz' }), 'otpauth://totp/Athena:a?secret=JBSWY3DP']],
    );
    expect(m.rows[0]).toEqual([1, MASK, MASK, MASK, '{"account_id":1,"api_secret":"[redacted]"}', MASK]);
    expect(m.maskedColumns).toEqual(['api_key', 'password_hash']);
    expect(m.maskedCells).toBe(5);
  });

  it('writes RFC 4180 CSV and defuses spreadsheet formulas', () => {
    expect(toCsv(['a', 'b'], [['x,y', 'say "hi"'], ['=HYPERLINK("http://evil")', -12.5], [null, '@SUM(A1)']])).toBe('a,b\r\n"x,y","say ""hi"""\r\n"\'=HYPERLINK(""http://evil"")",-12.5\r\n,\'@SUM(A1)\r\n');
  });
});

describe('runner on the real database', () => {
  let ctx: TestContext;
  let runner: SqlRunner;
  let dialect: SqlDialect;

  beforeAll(async () => {
    ctx = await createTestContext('web-sql');
    await seedDemo(ctx.db, requireKey(loadConfig(ctx.env).appKey));
    runner = new SqlRunner(ctx.config.database, 800);
    dialect = runner.dialect;
  });

  afterAll(async () => {
    await ctx?.cleanup();
  });

  it('pages results with has-more detection', async () => {
    const p1 = await runner.run('select id, name from accounts order by id', 'select', 1, 2);
    expect(p1.columns).toEqual(['id', 'name']);
    expect(p1.rows).toEqual([
      [1, 'Demo Alpha'],
      [2, 'Demo Beta'],
    ]);
    expect(p1.hasMore).toBe(true);
    const p2 = await runner.run('select id, name from accounts order by id', 'select', 2, 2);
    expect(p2.rows).toEqual([[3, 'Demo Gamma']]);
    expect(p2.hasMore).toBe(false);
  });

  it('runs WITH and EXPLAIN queries', async () => {
    const w = await runner.run('WITH a AS (SELECT id FROM accounts) SELECT count(*) AS n FROM a', 'select', 1, 25);
    expect(Number(w.rows[0]![0])).toBe(3);
    const e = await runner.run(dialect === 'sqlite' ? 'EXPLAIN QUERY PLAN SELECT * FROM accounts' : 'EXPLAIN SELECT * FROM accounts', 'explain', 1, 25);
    expect(e.rows.length).toBeGreaterThan(0);
  });

  it('refuses writes in the read-only transaction even when the statement check is bypassed', async () => {
    const before = await ctx.db('accounts').count({ n: '*' }).first();
    const writes =
      dialect === 'pg'
        ? ['delete from accounts', 'WITH d AS (DELETE FROM accounts RETURNING id) SELECT * FROM d', "select set_config('search_path', 'x', false), nextval('accounts_id_seq')"]
        : dialect === 'mysql'
          ? ['delete from accounts', 'update accounts set name = name']
          : ['delete from accounts', 'update accounts set name = name'];
    for (const sql of writes) {
      await expect(runner.run(sql, 'explain', 1, 25), sql).rejects.toBeInstanceOf(SqlRunError);
    }
    const after = await ctx.db('accounts').count({ n: '*' }).first();
    expect(Number(after!.n)).toBe(Number(before!.n));
  });

  it('stops a query that outlives the statement timeout', async () => {
    const heavy = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) SELECT count(*) FROM c a, c b, c d';
    const err = await runner.run(heavy, 'select', 1, 25).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SqlRunError);
    expect((err as SqlRunError).code).toBe('timeout');
    expect((err as SqlRunError).message).toBe('The query ran longer than the 0.8 s statement timeout and was stopped.');
    // the database is still usable afterwards
    expect((await runner.run('select 1 as one', 'select', 1, 25)).rows).toEqual([[1]]);
  });

  it('reports SQL errors as messages, not crashes', async () => {
    await expect(runner.run('select nope from accounts', 'select', 1, 25)).rejects.toThrow(SqlRunError);
  });
});

describe('SQL page', () => {
  let ctx: TestContext;
  let web: TestWeb;
  let b: Browserless;

  beforeAll(async () => {
    ctx = await createTestContext('web-sql-page');
    await seedDemo(ctx.db, requireKey(loadConfig(ctx.env).appKey));
    await seedUser(ctx.db, 'admin@athena.test', 'admin', 'correct horse battery staple');
    web = await buildTestWeb(ctx, { WEB_SQL_TIMEOUT_MS: '1000' });
    b = new Browserless(web.app);
    await b.login('admin@athena.test', 'correct horse battery staple');
  });

  afterAll(async () => {
    await web?.close();
    await ctx?.cleanup();
  });

  it('runs a query, masks secrets, and audits it', async () => {
    const token = await b.csrf('/sql');
    const res = await b.post('/sql', { _csrf: token, query: 'select id, name, binance_api_key, binance_api_secret as s from accounts order by id', per_page: '25', page: '1' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Demo Alpha');
    expect(res.body).not.toMatch(/v1:[A-Za-z0-9+/=]+:/);
    expect(res.body).toContain('6 secret value(s) hidden');
    const audit = await ctx.db('audit_log').where({ action: 'sql.query' }).orderBy('id', 'desc').first();
    expect(JSON.parse(audit.details).sql).toContain('binance_api_key');
  });

  it('shows rejections and timeouts as errors, each audited', async () => {
    const token = await b.csrf('/sql');
    const del = await b.post('/sql', { _csrf: token, query: 'DELETE FROM accounts' });
    expect(del.statusCode).toBe(422);
    expect(del.body).toContain('only SELECT, WITH or EXPLAIN');
    const slow = await b.post('/sql', { _csrf: token, query: 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) SELECT count(*) FROM c a, c b, c d' });
    expect(slow.statusCode).toBe(408);
    expect(slow.body).toContain('statement timeout');
    const actions = (await ctx.db('audit_log').select('action')).map((r: { action: string }) => r.action);
    expect(actions).toContain('sql.rejected');
    expect(actions).toContain('sql.failed');
  });

  it('exports CSV with secrets masked', async () => {
    const token = await b.csrf('/sql');
    const res = await b.post('/sql/csv', { _csrf: token, query: 'select id, name, binance_api_secret from accounts order by id' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="athena-query-.*\.csv"$/);
    expect(res.body.split('\r\n').slice(0, 2)).toEqual(['id,name,binance_api_secret', `1,Demo Alpha,${MASK}`]);
  });
});
