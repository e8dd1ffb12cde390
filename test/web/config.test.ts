/** The web's configuration variables: parsing and the error for each bad value. */
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/support/errors.js';

const noFile = { ENV_FILE: path.join(os.tmpdir(), 'athena-no-such-env-file') };

describe('web configuration', () => {
  it('parses lists, hosts and the optional SQL connection', () => {
    const c = loadConfig({
      ...noFile,
      WEB_TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8,::1',
      WEB_COMMANDS_ALLOW: 'kraite:*, about',
      WEB_FLEET_HOSTS: 'Athena,worker-1',
      WEB_SQL_DATABASE_URL: 'postgres://reader:pw@db:5432/kraite',
      WEB_SQL_TIMEOUT_MS: '2500',
    });
    expect(c.web.trustedProxies).toEqual(['127.0.0.1', '10.0.0.0/8', '::1']);
    expect(c.web.commandsAllow).toEqual(['kraite:*', 'about']);
    expect(c.web.fleetHosts).toEqual(['athena', 'worker-1']);
    expect(c.web.sqlDatabase).toMatchObject({ client: 'pg', user: 'reader', database: 'kraite' });
    expect(c.web.sqlTimeoutMs).toBe(2500);
  });

  it('names each bad web variable', () => {
    let err: unknown;
    try {
      loadConfig({ ...noFile, WEB_TRUSTED_PROXIES: 'proxy.local', WEB_COMMANDS_ALLOW: 'rm -rf', WEB_FLEET_HOSTS: 'bad host', WEB_SQL_TIMEOUT_MS: '10', WEB_COMMAND_TIMEOUT: 'x' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toEqual([
      'WEB_TRUSTED_PROXIES: "proxy.local" is not an IP address or CIDR',
      'WEB_COMMANDS_ALLOW: "rm -rf" is not a command id or prefix pattern (e.g. kraite:*)',
      'WEB_COMMAND_TIMEOUT: "x" is not an integer',
      'WEB_SQL_TIMEOUT_MS: 10 is outside 100..120000',
      'WEB_FLEET_HOSTS: "bad host" is not a host name',
    ]);
  });
});
