/**
 * SQL page (admin role only). Read-only three ways: the statement check (../sql/check.ts), a read-only
 * transaction on a read-only session or process (../sql/runner.ts), and a statement timeout
 * (WEB_SQL_TIMEOUT_MS, default 5 s). Results are paged (25–500 rows per page, 10,000 rows at most),
 * secrets are masked (../sql/mask.ts), CSV export is available, and every query — run, rejected or
 * failed — is written to the audit log.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { listTables } from '../../db/introspect.js';
import { checkReadOnlySql } from '../sql/check.js';
import { maskRows, MASK } from '../sql/mask.js';
import { toCsv } from '../sql/csv.js';
import { MAX_ROWS_TOTAL, PAGE_SIZES, SqlRunError, type SqlPage } from '../sql/runner.js';
import { html, type SafeHtml } from '../html.js';
import type { WebServices } from '../services.js';
import { badge, card } from '../views.js';
import { csrfField } from './layout.js';
import { intParam, renderPage } from './page.js';

interface SqlOutcome {
  ok: boolean;
  status: number;
  error?: string;
  result?: SqlPage & { maskedColumns: string[]; maskedCells: number };
}

async function tablesOf(s: WebServices): Promise<string[]> {
  try {
    return await listTables(s.db);
  } catch (err) {
    s.log.warn('could not list tables for the SQL page', { err });
    return []; // the picker is a convenience: the page still works without it
  }
}

export async function runSqlForUser(s: WebServices, req: FastifyRequest, query: string, page: number, perPage: number, purpose: 'page' | 'csv'): Promise<SqlOutcome> {
  const check = checkReadOnlySql(query, s.sql.dialect);
  const auditBase = { sql: query.slice(0, 4000), page, per_page: perPage, purpose };
  if (!check.ok) {
    await s.audit(req, 'sql.rejected', null, { ...auditBase, error: check.error });
    return { ok: false, status: 422, error: check.error };
  }
  try {
    const r = await s.sql.run(check.sql, check.kind, page, perPage);
    const masked = maskRows(r.columns, r.rows);
    await s.audit(req, purpose === 'csv' ? 'sql.export' : 'sql.query', null, { ...auditBase, rows: r.rows.length, has_more: r.hasMore, duration_ms: r.durationMs, masked_cells: masked.maskedCells });
    return { ok: true, status: 200, result: { ...r, rows: masked.rows, maskedColumns: masked.maskedColumns, maskedCells: masked.maskedCells } };
  } catch (err) {
    if (!(err instanceof SqlRunError)) throw err;
    await s.audit(req, 'sql.failed', null, { ...auditBase, error: err.message, timeout: err.code === 'timeout' });
    return { ok: false, status: err.code === 'timeout' ? 408 : 422, error: err.message };
  }
}

function resultsTable(r: NonNullable<SqlOutcome['result']>): SafeHtml {
  const head = r.columns.map((c) => html`<th scope="col">${c}${r.maskedColumns.includes(c) ? html` <span class="badge tone-warn" title="secret column">masked</span>` : ''}</th>`);
  const body = r.rows.map(
    (row) => html`<tr>${row.map((v) => (v === null || v === undefined ? html`<td class="null">NULL</td>` : v === MASK ? html`<td class="masked">${MASK}</td>` : html`<td>${String(v).length > 500 ? `${String(v).slice(0, 500)}…` : String(v)}</td>`))}</tr>`,
  );
  if (!r.columns.length) return html`<p class="empty">The query returned no columns.</p>`;
  return html`<div class="table-wrap"><table class="results"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>${r.rows.length ? '' : html`<p class="empty">No rows.</p>`}`;
}

function sqlForm(csrf: string, query: string, perPage: number, tables: string[]): SafeHtml {
  return html`<form method="post" action="/sql" class="stack sql-form">
${csrfField(csrf)}
<label for="sql-query">Query <span class="muted small">(one SELECT, WITH or EXPLAIN; read-only transaction; timeout applies)</span></label>
<textarea id="sql-query" name="query" rows="6" spellcheck="false" required>${query}</textarea>
<div class="row">
<label>Rows per page <select name="per_page">${PAGE_SIZES.map((n) => html`<option${n === perPage ? html` selected` : ''}>${n}</option>`)}</select></label>
<input type="hidden" name="page" value="1">
<button type="submit" class="primary">Run</button>
<button type="submit" formaction="/sql/csv">Export CSV</button>
</div>
</form>
${tables.length ? html`<details class="tables"><summary>${tables.length} tables</summary><p>${tables.map((t) => html`<a href="/sql?table=${encodeURIComponent(t)}"><code>${t}</code></a> `)}</p></details>` : ''}`;
}

function pager(csrf: string, query: string, r: SqlPage): SafeHtml {
  const btn = (page: number, label: string) =>
    html`<form method="post" action="/sql" class="inline">${csrfField(csrf)}<input type="hidden" name="query" value="${query}"><input type="hidden" name="per_page" value="${r.perPage}"><input type="hidden" name="page" value="${page}"><button type="submit">${label}</button></form>`;
  const from = (r.page - 1) * r.perPage + (r.rows.length ? 1 : 0);
  const to = (r.page - 1) * r.perPage + r.rows.length;
  return html`<div class="pager">${r.page > 1 ? btn(r.page - 1, '← Previous') : ''} <span>rows ${from}–${to}${r.hasMore ? '+' : ''} · ${r.durationMs} ms</span> ${r.hasMore && r.page * r.perPage < MAX_ROWS_TOTAL ? btn(r.page + 1, 'Next →') : ''}</div>`;
}

export function registerSql(app: FastifyInstance, s: WebServices): void {
  const show = async (req: FastifyRequest, reply: FastifyReply, query: string, perPage: number, outcome: SqlOutcome | null) => {
    const csrf = reply.generateCsrf();
    const tables = await tablesOf(s);
    let results: SafeHtml = html``;
    if (outcome && !outcome.ok) results = html`<div class="flash flash-error" role="alert">${outcome.error}</div>`;
    if (outcome?.result) {
      const r = outcome.result;
      const maskNote = r.maskedCells ? html`<p class="muted small">${badge('warning', 'masked')} ${r.maskedCells} secret value(s) hidden.</p>` : '';
      results = card('Results', html`${maskNote}${resultsTable(r)}${pager(csrf, query, r)}`);
    }
    return renderPage(req, reply, { title: 'SQL', active: 'sql', body: html`${card('Read-only query', sqlForm(csrf, query, perPage, tables), { hint: `${s.sql.dialect} · timeout ${s.config.web.sqlTimeoutMs / 1000} s · max ${MAX_ROWS_TOTAL} rows` })}${results}`, status: outcome?.status ?? 200 });
  };

  const parse = (req: FastifyRequest) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const query = typeof b.query === 'string' ? b.query : '';
    const perPage = PAGE_SIZES.includes(intParam(b.per_page) ?? 0) ? intParam(b.per_page)! : 50;
    const page = Math.max(1, intParam(b.page) ?? 1);
    return { query, perPage, page };
  };

  app.get('/sql', { config: { adminOnly: true } }, async (req, reply) => {
    const table = (req.query as Record<string, unknown>).table;
    const prefill = typeof table === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(table) ? `SELECT * FROM ${table} LIMIT 100` : '';
    return show(req, reply, prefill, 50, null);
  });

  app.post('/sql', { config: { adminOnly: true } }, async (req, reply) => {
    const { query, perPage, page } = parse(req);
    const outcome = await runSqlForUser(s, req, query, page, perPage, 'page');
    return show(req, reply, query, perPage, outcome);
  });

  app.post('/sql/csv', { config: { adminOnly: true } }, async (req, reply) => {
    const { query } = parse(req);
    const outcome = await runSqlForUser(s, req, query, 1, MAX_ROWS_TOTAL, 'csv');
    if (!outcome.result) return show(req, reply, query, 50, outcome);
    const name = `athena-query-${new Date(s.clock.now()).toISOString().replace(/[:.]/g, '-')}.csv`;
    return reply
      .header('cache-control', 'no-store')
      .header('content-disposition', `attachment; filename="${name}"`)
      .type('text/csv; charset=utf-8')
      .send(toCsv(outcome.result.columns, outcome.result.rows));
  });

  app.post('/api/sql', { config: { adminOnly: true } }, async (req, reply) => {
    const { query, perPage, page } = parse(req);
    const outcome = await runSqlForUser(s, req, query, page, perPage, 'page');
    if (!outcome.result) return reply.code(outcome.status).send({ error: outcome.error });
    const r = outcome.result;
    return reply.send({ columns: r.columns, rows: r.rows, page: r.page, per_page: r.perPage, has_more: r.hasMore, duration_ms: r.durationMs, masked_columns: r.maskedColumns, masked_cells: r.maskedCells });
  });
}
