/**
 * The typed configuration. `loadConfig()` validates every variable of ./vars.ts at once and throws a
 * ConfigError naming each bad variable; commands turn that into exit code 1.
 */
import os from 'node:os';
import { ConfigError } from '../support/errors.js';
import { maskUrl } from '../support/mask.js';
import { loadEnv, type Env } from './env.js';
import { VARS } from './vars.js';
import type { DatabaseTarget } from '../db/url.js';

export type AppEnv = 'local' | 'testing' | 'production';
export type ServerRole = 'ingestion' | 'worker' | 'web';

export interface AppConfig {
  appEnv: AppEnv;
  serverRole: ServerRole;
  appKey: Buffer | null;
  hostname: string;
  log: { level: string; format: string };
  database: DatabaseTarget;
  redis: { url: string; prefix: string };
  binance: { restUrl: string; wsUrl: string };
  web: {
    port: number;
    adminHost: string;
    marketingHost: string;
    docsHost: string;
    trustedProxies: string[];
    commandsAllow: string[];
    commandTimeoutSeconds: number;
    sqlTimeoutMs: number;
    sqlDatabase: DatabaseTarget | null;
    fleetHosts: string[];
    sessionIdleMinutes: number;
  };
  canDispatchSteps: boolean;
  userDataShards: number;
  /** Execution types the user-data job applies to orders; empty = record-only. */
  userDataApplyExecutionTypes: string[];
  notifyWebhookUrl: string | null;
  /** An alternative schedule module (tests, benchmarks); null means Athena's own schedule. */
  scheduleModule: string | null;
  horizon: { longWaitSeconds: number; terminateWaitSeconds: number; configFile: string | null; processorModules: string[] };
  /** The merged environment the values came from, for optional knobs read by single modules. */
  env: Env;
}

export function loadConfig(processEnv: Env = process.env): AppConfig {
  const env = loadEnv(processEnv);
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const spec of VARS) {
    const raw = env[spec.name];
    const input = raw === undefined ? spec.default : raw;
    if (input === null) {
      values[spec.name] = null;
      continue;
    }
    const parsed = spec.parse(input);
    if (parsed.ok) values[spec.name] = parsed.value;
    else problems.push(`${spec.name}: ${parsed.error}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const v = <T>(name: string) => values[name] as T;
  return {
    appEnv: v<AppEnv>('APP_ENV'),
    serverRole: v<ServerRole>('SERVER_ROLE'),
    appKey: v<Buffer | null>('APP_KEY'),
    hostname: v<string | null>('APP_HOSTNAME') ?? os.hostname(),
    log: { level: v('LOG_LEVEL'), format: v('LOG_FORMAT') },
    database: v<DatabaseTarget>('DATABASE_URL'),
    redis: { url: v('REDIS_URL'), prefix: v('REDIS_PREFIX') },
    binance: { restUrl: v('BINANCE_REST_URL'), wsUrl: v('BINANCE_WS_URL') },
    web: {
      port: v('WEB_PORT'),
      adminHost: v('ADMIN_HOST'),
      marketingHost: v('MARKETING_HOST'),
      docsHost: v('DOCS_HOST'),
      trustedProxies: v('WEB_TRUSTED_PROXIES'),
      commandsAllow: v('WEB_COMMANDS_ALLOW'),
      commandTimeoutSeconds: v('WEB_COMMAND_TIMEOUT'),
      sqlTimeoutMs: v('WEB_SQL_TIMEOUT_MS'),
      sqlDatabase: v<DatabaseTarget | null>('WEB_SQL_DATABASE_URL'),
      fleetHosts: v('WEB_FLEET_HOSTS'),
      sessionIdleMinutes: v('WEB_SESSION_IDLE_MINUTES'),
    },
    canDispatchSteps: v('CAN_DISPATCH_STEPS'),
    userDataShards: v('USER_DATA_SHARDS'),
    userDataApplyExecutionTypes: v('USER_DATA_APPLY_EXECUTION_TYPES'),
    notifyWebhookUrl: v<string | null>('NOTIFY_WEBHOOK_URL'),
    scheduleModule: v<string>('SCHEDULE_MODULE') || null,
    horizon: {
      longWaitSeconds: v('HORIZON_LONG_WAIT_SECONDS'),
      terminateWaitSeconds: v('HORIZON_TERMINATE_WAIT_SECONDS'),
      configFile: v<string>('HORIZON_CONFIG') || null,
      processorModules: v<string>('HORIZON_PROCESSOR_MODULE')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    },
    env,
  };
}

let cached: AppConfig | null = null;

/** The process-wide configuration, validated once. */
export function getConfig(): AppConfig {
  cached ??= loadConfig();
  return cached;
}

/** For tests that change the environment between cases. */
export function resetConfig(): void {
  cached = null;
}

/** Every variable with its effective value, secrets masked, for `config:show`. */
export function describeConfig(processEnv: Env = process.env): Array<{ name: string; value: string; source: 'env' | '.env' | 'default'; secret: boolean; description: string }> {
  const fileEnv = loadEnv({ ENV_FILE: processEnv.ENV_FILE });
  return VARS.map((spec) => {
    const fromProcess = processEnv[spec.name];
    const fromFile = fileEnv[spec.name];
    const source = fromProcess !== undefined ? 'env' : fromFile !== undefined ? '.env' : 'default';
    const raw = fromProcess ?? fromFile ?? spec.default ?? '';
    return { name: spec.name, value: spec.secret ? maskSecretValue(spec.name, raw) : raw, source, secret: !!spec.secret, description: spec.description };
  });
}

function maskSecretValue(name: string, raw: string): string {
  if (!raw) return '';
  if (/_URL$/.test(name)) return maskUrl(raw);
  return '****';
}
