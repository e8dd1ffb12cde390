/**
 * Layer 1 of the SQL page's read-only guarantee: a statement check that understands each dialect's
 * comments and literals, so keywords inside strings are allowed and keywords hidden by comment tricks are
 * not. It accepts exactly one SELECT, WITH or EXPLAIN (SELECT|WITH) statement and rejects:
 *  - anything else first (DELETE, UPDATE, INSERT, DDL, SET, PRAGMA, …) and a second statement after ';';
 *  - data-modifying words anywhere (a PostgreSQL CTE may hold an INSERT/UPDATE/DELETE/MERGE);
 *  - row locks (FOR UPDATE / FOR SHARE / FOR NO KEY UPDATE / FOR KEY SHARE, LOCK IN SHARE MODE) and INTO;
 *  - functions with side effects or that reach outside the database (advisory locks, file access,
 *    sleep/benchmark, sequence moves, backend signalling, dblink, SQLite extensions);
 *  - MySQL executable comments ("/*!" … ) and optimizer hints, and unterminated strings or comments.
 * Layers 2 and 3 (a read-only transaction on a read-only session, and a statement timeout) are in
 * ./runner.ts; this check alone is not trusted to be complete.
 */
export type SqlDialect = 'sqlite' | 'pg' | 'mysql';

export type CheckResult = { ok: true; sql: string; kind: 'select' | 'explain' } | { ok: false; error: string };

export const MAX_SQL_LENGTH = 20_000;

/** Words that may hide a write inside a SELECT (PostgreSQL data-modifying CTEs, SELECT … INTO) or DDL. */
const FORBIDDEN_WORDS = ['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'UPSERT', 'INTO', 'OUTFILE', 'DUMPFILE', 'CREATE', 'DROP', 'ALTER', 'TRUNCATE', 'GRANT', 'REVOKE', 'ATTACH', 'DETACH', 'PRAGMA', 'VACUUM', 'REINDEX', 'NOTIFY', 'LISTEN', 'COPY', 'CALL'];

const FORBIDDEN_FUNCTIONS = [
  /^sleep$/,
  /^pg_sleep/,
  /^benchmark$/,
  /^load_file$/,
  /^get_lock$/,
  /^release_lock$/,
  /^release_all_locks$/,
  /^is_free_lock$/,
  /^is_used_lock$/,
  /^pg_advisory/,
  /^pg_try_advisory/,
  /^pg_read_file$/,
  /^pg_read_binary_file$/,
  /^pg_ls_/,
  /^pg_stat_file$/,
  /^lo_/,
  /^dblink/,
  /^pg_terminate_backend$/,
  /^pg_cancel_backend$/,
  /^pg_reload_conf$/,
  /^pg_rotate_logfile$/,
  /^pg_switch_wal$/,
  /^pg_create_/,
  /^pg_drop_/,
  /^pg_notify$/,
  /^pg_logical_/,
  /^pg_replication_/,
  /^set_config$/,
  /^nextval$/,
  /^setval$/,
  /^txid_current$/,
  /^pg_current_xact_id$/,
  /^load_extension$/,
  /^readfile$/,
  /^writefile$/,
  /^edit$/,
  /^fts3_tokenizer$/,
  /^sys_exec$/,
  /^sys_eval$/,
];

const FORBIDDEN_RELATIONS = ['pg_authid', 'pg_shadow', 'pg_user_mapping', 'pg_user_mappings'];

/**
 * Replace every string literal, quoted identifier and comment with spaces of the same length, so the
 * remaining text holds only keywords, names, numbers and punctuation. Quoted identifiers become `_q`
 * (so `"update"` as a column name does not look like the keyword). Throws on anything unterminated.
 */
export function blankLiterals(sql: string, dialect: SqlDialect): string {
  let out = '';
  let i = 0;
  const n = sql.length;
  const pad = (len: number) => ' '.repeat(len);
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1] ?? '';
    // -- line comments (MySQL needs whitespace or end after "--")
    if (c === '-' && next === '-' && (dialect !== 'mysql' || i + 2 >= n || /\s/.test(sql[i + 2]!))) {
      const end = sql.indexOf('\n', i);
      const stop = end < 0 ? n : end;
      out += pad(stop - i);
      i = stop;
      continue;
    }
    if (c === '#' && dialect === 'mysql') {
      const end = sql.indexOf('\n', i);
      const stop = end < 0 ? n : end;
      out += pad(stop - i);
      i = stop;
      continue;
    }
    if (c === '/' && next === '*') {
      if (dialect === 'mysql' && (sql[i + 2] === '!' || sql[i + 2] === '+')) throw new Error('MySQL executable comments (/*! … */) and optimizer hints are not allowed');
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (sql[j] === '*' && sql[j + 1] === '/') {
          depth--;
          j += 2;
        } else if (dialect === 'pg' && sql[j] === '/' && sql[j + 1] === '*') {
          depth++; // PostgreSQL block comments nest
          j += 2;
        } else j++;
      }
      if (depth > 0) throw new Error('unterminated /* comment');
      out += pad(j - i);
      i = j;
      continue;
    }
    // PostgreSQL dollar quoting: $tag$ … $tag$
    if (c === '$' && dialect === 'pg') {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (m) {
        const tag = m[0];
        const end = sql.indexOf(tag, i + tag.length);
        if (end < 0) throw new Error('unterminated dollar-quoted string');
        out += `'${pad(end + tag.length - i - 2)}'`;
        i = end + tag.length;
        continue;
      }
    }
    if (c === "'" || (c === '"' && dialect === 'mysql')) {
      // backslash escapes: MySQL always; PostgreSQL only in E'' strings
      const backslash = dialect === 'mysql' || (dialect === 'pg' && /[eE]/.test(sql[i - 1] ?? '') && !/[A-Za-z0-9_]/.test(sql[i - 2] ?? ''));
      let j = i + 1;
      for (;;) {
        if (j >= n) throw new Error('unterminated string literal');
        const d = sql[j]!;
        if (backslash && d === '\\') {
          j += 2;
          continue;
        }
        if (d === c) {
          if (sql[j + 1] === c) {
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      out += `'${pad(j - i - 1)}'`;
      i = j + 1;
      continue;
    }
    const closeFor: Record<string, string> = { '"': '"', '`': '`', '[': ']' };
    if ((c === '"' && dialect !== 'mysql') || (c === '`' && dialect !== 'pg') || (c === '[' && dialect === 'sqlite')) {
      const close = closeFor[c]!;
      let j = i + 1;
      for (;;) {
        if (j >= n) throw new Error('unterminated quoted identifier');
        if (sql[j] === close) {
          if (close !== ']' && sql[j + 1] === close) {
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      const len = j + 1 - i;
      out += `_q${pad(Math.max(0, len - 2))}`;
      i = j + 1;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

export function checkReadOnlySql(input: string, dialect: SqlDialect): CheckResult {
  if (typeof input !== 'string' || input.trim() === '') return { ok: false, error: 'Enter a query.' };
  if (input.length > MAX_SQL_LENGTH) return { ok: false, error: `The query is longer than ${MAX_SQL_LENGTH} characters.` };
  if (input.includes('\u0000')) return { ok: false, error: 'The query contains a NUL character.' };
  let code: string;
  try {
    code = blankLiterals(input, dialect);
  } catch (err) {
    return { ok: false, error: `Rejected: ${(err as Error).message}.` };
  }
  // one optional trailing semicolon; the executed text drops it too
  let sql = input;
  const trimmed = code.replace(/\s+$/, '');
  if (trimmed.endsWith(';')) {
    const at = trimmed.length - 1;
    code = code.slice(0, at) + ' '.repeat(code.length - at);
    sql = input.slice(0, at);
  }
  if (code.includes(';')) return { ok: false, error: 'Rejected: only one statement is allowed (found a ";" between statements).' };
  sql = sql.replace(/\s+$/, '');

  const words = code.toUpperCase().match(/[A-Z_][A-Z0-9_$]*/g) ?? [];
  const first = words[0] ?? '';
  let kind: 'select' | 'explain' = 'select';
  if (first === 'EXPLAIN') {
    kind = 'explain';
    const rest = code.replace(/^\s*explain\b/i, '');
    const target = /^\s*(?:(?:ANALYZE|ANALYSE|VERBOSE|EXTENDED|PARTITIONS|QUERY\s+PLAN|FORMAT\s*=\s*\w+)\s+|\([^()]*\)\s*)*(\w+)/i.exec(rest);
    const t = target?.[1]?.toUpperCase();
    if (t !== 'SELECT' && t !== 'WITH') return { ok: false, error: 'Rejected: EXPLAIN is allowed only for SELECT or WITH queries.' };
  } else if (first !== 'SELECT' && first !== 'WITH') {
    return { ok: false, error: `Rejected: only SELECT, WITH or EXPLAIN queries are allowed (this one starts with ${first || 'nothing'}).` };
  }
  const locking = /\bFOR\s+(?:NO\s+KEY\s+)?(?:UPDATE|SHARE|KEY\s+SHARE)\b|\bLOCK\s+IN\s+SHARE\s+MODE\b/i.exec(code);
  if (locking) return { ok: false, error: `Rejected: row locks (${locking[0].replace(/\s+/g, ' ').toUpperCase()}) are not allowed.` };
  for (const w of words) {
    if (FORBIDDEN_WORDS.includes(w)) return { ok: false, error: `Rejected: ${w} is not allowed in a read-only query.` };
  }
  for (const m of code.matchAll(/([A-Za-z_][A-Za-z0-9_$]*)\s*\(/g)) {
    const fn = m[1]!.toLowerCase();
    if (FORBIDDEN_FUNCTIONS.some((re) => re.test(fn))) return { ok: false, error: `Rejected: the function ${fn}() is not allowed here.` };
  }
  for (const m of code.matchAll(/[A-Za-z_][A-Za-z0-9_$.]*/g)) {
    const name = m[0].toLowerCase().split('.').pop()!;
    if (FORBIDDEN_RELATIONS.includes(name) || m[0].toLowerCase() === 'mysql.user') return { ok: false, error: `Rejected: ${m[0]} holds database credentials and is not readable here.` };
  }
  return { ok: true, sql, kind };
}
