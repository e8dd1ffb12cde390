/**
 * Every configuration variable Athena reads, with its default, its meaning and how it is validated.
 * This list is the single source for validation, `config:show` and the README table (a test keeps the
 * README in step with it). Add new variables here, never read process.env directly elsewhere.
 */
import { parseDatabaseUrl } from '../db/url.js';

export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

export interface VarSpec {
  name: string;
  default: string | null;
  description: string;
  group: string;
  secret?: boolean;
  parse(raw: string): Parsed;
}

const ok = (value: unknown): Parsed => ({ ok: true, value });
const bad = (error: string): Parsed => ({ ok: false, error });

export const oneOf =
  (...choices: string[]) =>
  (raw: string): Parsed =>
    choices.includes(raw) ? ok(raw) : bad(`"${raw}" is not one of ${choices.join(' | ')}`);

export const int =
  (min: number, max: number) =>
  (raw: string): Parsed => {
    if (!/^-?\d+$/.test(raw.trim())) return bad(`"${raw}" is not an integer`);
    const n = Number(raw);
    return n < min || n > max ? bad(`${n} is outside ${min}..${max}`) : ok(n);
  };

export const bool = (raw: string): Parsed => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return ok(true);
  if (['0', 'false', 'no', 'off', ''].includes(v)) return ok(false);
  return bad(`"${raw}" is not a boolean (true/false)`);
};

export const url =
  (...protocols: string[]) =>
  (raw: string): Parsed => {
    try {
      const u = new URL(raw);
      const p = u.protocol.replace(/:$/, '');
      return protocols.includes(p) ? ok(raw.replace(/\/+$/, '')) : bad(`"${raw}" must use ${protocols.map((x) => `${x}://`).join(' or ')}`);
    } catch {
      return bad(`"${raw}" is not a URL`);
    }
  };

export const optionalUrl =
  (...protocols: string[]) =>
  (raw: string): Parsed =>
    raw.trim() === '' ? ok(null) : url(...protocols)(raw);

export const hostname = (raw: string): Parsed =>
  /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/i.test(raw) ? ok(raw.toLowerCase()) : bad(`"${raw}" is not a host name`);

export const identifier = (raw: string): Parsed =>
  /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(raw) ? ok(raw) : bad(`"${raw}" must be 1-64 letters, digits, "_", "." or "-"`);

export const appKey = (raw: string): Parsed => {
  if (raw.trim() === '') return ok(null);
  const b64 = raw.startsWith('base64:') ? raw.slice(7) : raw;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return bad('is not base64 (run bin/artisan key:generate)');
  const key = Buffer.from(b64, 'base64');
  return key.length === 32 ? ok(key) : bad(`decodes to ${key.length} bytes, 32 are required (run bin/artisan key:generate)`);
};

export const databaseUrl = (raw: string): Parsed => {
  try {
    return ok(parseDatabaseUrl(raw));
  } catch (err) {
    return bad(`"${raw.replace(/:\/\/([^:@/]*):[^@]*@/, '://$1:****@')}" ${(err as Error).message}`);
  }
};

export const text = (raw: string): Parsed => ok(raw);

export const optionalDatabaseUrl = (raw: string): Parsed => (raw.trim() === '' ? ok(null) : databaseUrl(raw));

const splitList = (raw: string): string[] =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export const proxyList = (raw: string): Parsed => {
  const items = splitList(raw);
  for (const i of items) if (!/^[0-9a-f.:]+(\/\d{1,3})?$/i.test(i)) return bad(`"${i}" is not an IP address or CIDR`);
  return ok(items);
};

export const patternList = (raw: string): Parsed => {
  const items = splitList(raw);
  for (const i of items) if (!/^[a-z0-9][a-z0-9:_-]*\*?$|^\*$/i.test(i)) return bad(`"${i}" is not a command id or prefix pattern (e.g. kraite:*)`);
  return ok(items);
};

export const hostList = (raw: string): Parsed => {
  const items = splitList(raw);
  for (const i of items) {
    const r = hostname(i);
    if (!r.ok) return r;
  }
  return ok(items.map((i) => i.toLowerCase()));
};

export const executionTypeList = (raw: string): Parsed => {
  const items = splitList(raw).map((i) => i.toUpperCase());
  for (const i of items) if (!/^[A-Z][A-Z_]{0,39}$/.test(i)) return bad(`"${i}" is not an execution type (e.g. TRADE, CANCELED, ALGO_FILLED)`);
  return ok([...new Set(items)]);
};

export const VARS: VarSpec[] = [
  // Application
  { name: 'APP_ENV', group: 'app', default: 'local', description: 'local | testing | production. Production requires --force for migrate and forbids migrate:fresh.', parse: oneOf('local', 'testing', 'production') },
  { name: 'SERVER_ROLE', group: 'app', default: 'ingestion', description: 'ingestion | worker | web. Only ingestion registers the schedule; worker boxes run horizon for the step queues.', parse: oneOf('ingestion', 'worker', 'web') },
  { name: 'APP_KEY', group: 'app', default: null, secret: true, description: 'base64 of 32 random bytes (AES-256-GCM key for secrets at rest). `bin/artisan key:generate` writes one into .env.', parse: appKey },
  { name: 'APP_HOSTNAME', group: 'app', default: null, description: 'Name this box reports in heartbeats, locks and run records. Defaults to the OS host name.', parse: hostname },
  { name: 'LOG_LEVEL', group: 'app', default: 'info', description: 'debug | info | warn | error.', parse: oneOf('debug', 'info', 'warn', 'error') },
  { name: 'LOG_FORMAT', group: 'app', default: 'json', description: 'json (one object per line) | pretty.', parse: oneOf('json', 'pretty') },
  // Storage
  { name: 'DATABASE_URL', group: 'database', default: 'sqlite:storage/athena.sqlite', secret: true, description: 'sqlite:<path> (relative to the project root), postgres://user:pass@host:port/db or mysql://user:pass@host:port/db (MariaDB too).', parse: databaseUrl },
  { name: 'REDIS_URL', group: 'redis', default: 'redis://127.0.0.1:6379', secret: true, description: 'Redis ≥ 6.2 (queues, locks, flags, heartbeats). redis:// or rediss://.', parse: url('redis', 'rediss') },
  { name: 'REDIS_PREFIX', group: 'redis', default: 'athena', description: 'Every Redis key and BullMQ queue of the box lives under this prefix (BullMQ uses the hash-tagged form {prefix}).', parse: identifier },
  // Binance
  { name: 'BINANCE_REST_URL', group: 'binance', default: 'https://fapi.binance.com', description: 'USDⓈ-M futures REST base URL. Tests and `npm start` point it at the bundled simulator.', parse: url('http', 'https') },
  { name: 'BINANCE_WS_URL', group: 'binance', default: 'wss://fstream.binance.com', description: 'USDⓈ-M futures WebSocket base URL (/market and /private routes are appended).', parse: url('ws', 'wss') },
  // Web
  { name: 'WEB_PORT', group: 'web', default: '8080', description: 'Port of the `web` server.', parse: int(1, 65535) },
  { name: 'ADMIN_HOST', group: 'web', default: 'admin.localhost', description: 'Host name of the operator UI vhost.', parse: hostname },
  { name: 'MARKETING_HOST', group: 'web', default: 'localhost', description: 'Host name of the marketing vhost.', parse: hostname },
  { name: 'DOCS_HOST', group: 'web', default: 'docs.localhost', description: 'Host name of the public docs vhost.', parse: hostname },
  { name: 'WEB_TRUSTED_PROXIES', group: 'web', default: '', description: 'Comma-separated IPs/CIDRs of the TLS proxy in front of `web`. X-Forwarded-For/-Proto are trusted only from these (Secure cookies and HSTS follow X-Forwarded-Proto). Empty trusts nobody.', parse: proxyList },
  { name: 'WEB_COMMANDS_ALLOW', group: 'web', default: 'kraite:*,steps:*,schedule:list,horizon:status,queue:failed', description: 'Commands the admin runner may start (comma-separated ids, `*` suffix = prefix). key:generate, migrate:fresh, down/up, user:*, web and the daemons are never allowed.', parse: patternList },
  { name: 'WEB_COMMAND_TIMEOUT', group: 'web', default: '300', description: 'Seconds before a command started from the admin runner is killed.', parse: int(5, 3600) },
  { name: 'WEB_SQL_TIMEOUT_MS', group: 'web', default: '5000', description: 'Statement timeout of the admin SQL page, in milliseconds.', parse: int(100, 120000) },
  { name: 'WEB_SQL_DATABASE_URL', group: 'web', default: '', secret: true, description: 'Optional connection for the admin SQL page, e.g. a read-only database user. Empty uses DATABASE_URL (still in read-only transactions).', parse: optionalDatabaseUrl },
  { name: 'WEB_FLEET_HOSTS', group: 'web', default: '', description: 'Comma-separated host names expected to send fleet reports; a listed host with no report shows as missing.', parse: hostList },
  { name: 'WEB_SESSION_IDLE_MINUTES', group: 'web', default: '120', description: 'Admin sessions end after this many idle minutes (and after 12 h in any case).', parse: int(5, 1440) },
  // Dispatch
  { name: 'CAN_DISPATCH_STEPS', group: 'steps', default: 'true', description: 'Global kill switch of the step dispatcher: false makes the dispatch daemon idle.', parse: bool },
  // Queues
  { name: 'USER_DATA_SHARDS', group: 'queues', default: '5', description: 'Shards of user-data-stream (queues user-data-stream-0..N-1, shard = account id mod N). Producer and pool must agree; change only while drained.', parse: int(1, 64) },
  { name: 'USER_DATA_APPLY_EXECUTION_TYPES', group: 'queues', default: 'TRADE,AMENDMENT,CANCELED,EXPIRED,REJECTED,ALGO_NEW,ALGO_CANCELED,ALGO_EXPIRED,ALGO_FILLED', description: 'Execution types (o.x; ALGO_<status> for algo orders) whose user-data frames move local orders. Empty = record-only: frames are stored in api_data_stream and nothing else happens.', parse: executionTypeList },
  // Scheduler
  { name: 'HORIZON_LONG_WAIT_SECONDS', group: 'horizon', default: '60', description: 'horizon alerts (horizon_long_wait) when the oldest waiting job of a queue it drains has waited longer than this.', parse: int(1, 86400) },
  { name: 'HORIZON_TERMINATE_WAIT_SECONDS', group: 'horizon', default: '60', description: 'On SIGTERM or horizon:terminate, how long workers may finish their current job before they are killed (keep below the process supervisor stopwaitsecs).', parse: int(1, 3600) },
  { name: 'HORIZON_CONFIG', group: 'horizon', default: '', description: 'Optional JSON file (absolute, or relative to the project root) overriding the role\'s horizon supervisors (docs/horizon.md); tests and benchmarks use it.', parse: text },
  { name: 'HORIZON_PROCESSOR_MODULE', group: 'horizon', default: '', description: 'For tests and benchmarks: comma-separated compiled JS modules every horizon worker imports before it starts, to register extra processors.', parse: text },
  { name: 'SCHEDULE_MODULE', group: 'scheduler', default: '', description: 'For tests and benchmarks: path (absolute, or relative to the project root) of a compiled JS module that defines the schedule instead of Athena\'s own (dist/kernel/athena-schedule.js).', parse: text },
  // Alerts
  { name: 'NOTIFY_WEBHOOK_URL', group: 'alerts', default: '', secret: true, description: 'Optional webhook that receives every alert as JSON (POST). Empty disables it.', parse: optionalUrl('http', 'https') },
];
