/**
 * Structured logging: one JSON object per line on stderr (so that `--json` output on stdout stays clean),
 * or a short human line when LOG_FORMAT=pretty. Secret-named fields are redacted before they are written.
 */
import { redact } from './mask.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string, fields?: Record<string, unknown>): Logger;
}

export interface LogSink {
  write(line: string): void;
}

const stderrSink: LogSink = { write: (line) => process.stderr.write(line) };

function levelFromEnv(): LogLevel {
  const v = (process.env.LOG_LEVEL ?? 'info').toLowerCase();
  return v in ORDER ? (v as LogLevel) : 'info';
}

function serialiseError(err: unknown): unknown {
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack?.split('\n').slice(0, 6).join('\n') };
  return err;
}

export function createLogger(component: string, base: Record<string, unknown> = {}, sink: LogSink = stderrSink): Logger {
  const min = ORDER[levelFromEnv()];
  const pretty = process.env.LOG_FORMAT === 'pretty';
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    const extra: Record<string, unknown> = { ...base, ...fields };
    if ('err' in extra) extra.err = serialiseError(extra.err);
    const safe = redact(extra);
    if (pretty) {
      const kv = Object.entries(safe)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      sink.write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [${component}] ${msg}${kv ? ` ${kv}` : ''}\n`);
    } else {
      sink.write(`${JSON.stringify({ ts: new Date().toISOString(), level, component, msg, ...safe })}\n`);
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (c, f) => createLogger(`${component}.${c}`, { ...base, ...f }, sink),
  };
}

/** Collects lines in memory; for tests. */
export class MemorySink implements LogSink {
  lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
  }
  records(): Array<Record<string, unknown>> {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}
