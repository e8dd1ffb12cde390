/**
 * One SQL page query against SQLite, in its own short-lived process, so the web server can enforce the
 * statement timeout by killing it (a worker thread cannot be stopped while SQLite's native code runs).
 * The database is opened read-only with query_only=ON, and the statement must be a reader that
 * better-sqlite3 itself reports as read-only. Receives one message, answers one, exits.
 */
import Database from 'better-sqlite3';

interface Request {
  filename: string;
  sql: string;
  params: Array<string | number>;
  maxRows: number;
}

function cellValue(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v)) return `\\x${v.subarray(0, 64).toString('hex')}${v.length > 64 ? `… (${v.length} bytes)` : ''}`;
  return v;
}

process.once('message', (msg: Request) => {
  const reply = (body: unknown) => process.send!(body, () => process.exit(0));
  try {
    const db = new Database(msg.filename, { readonly: true, fileMustExist: true });
    db.pragma('query_only = ON');
    db.pragma('busy_timeout = 2000');
    const stmt = db.prepare(msg.sql);
    if (!stmt.reader) throw new Error('the statement returns no rows');
    if (!stmt.readonly) throw new Error('the statement would write to the database');
    stmt.raw(true);
    process.send!({ ready: true }); // the statement timeout starts now, not at process start
    const columns = stmt.columns().map((c) => c.name);
    const rows: unknown[][] = [];
    for (const r of stmt.iterate(...msg.params) as Iterable<unknown[]>) {
      rows.push(r.map(cellValue));
      if (rows.length >= msg.maxRows) break;
    }
    db.close();
    reply({ ok: true, columns, rows });
  } catch (err) {
    reply({ ok: false, error: (err as Error).message, code: (err as { code?: string }).code ?? null });
  }
});
