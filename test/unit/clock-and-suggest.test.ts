import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/support/clock.js';
import { suggestCommands } from '../../src/launcher/suggest.js';
import { maskUrl, redact } from '../../src/support/mask.js';

describe('FakeClock', () => {
  it('wakes sleepers in deadline order as time advances', async () => {
    const clock = new FakeClock(0);
    const woke: string[] = [];
    void clock.sleep(300).then(() => woke.push(`b@${clock.now()}`));
    void clock.sleep(100).then(() => woke.push(`a@${clock.now()}`));
    await clock.advance(50);
    expect(woke).toEqual([]);
    await clock.advance(300);
    expect(woke).toEqual(['a@100', 'b@300']);
    expect(clock.now()).toBe(350);
  });

  it('rejects an aborted sleep', async () => {
    const clock = new FakeClock(0);
    const ac = new AbortController();
    const p = clock.sleep(1000, ac.signal);
    ac.abort();
    await expect(p).rejects.toThrow(/aborted/);
    expect(clock.pending).toBe(0);
  });
});

describe('command suggestions', () => {
  const ids = ['migrate', 'migrate:status', 'migrate:rollback', 'kraite:account-add', 'kraite:account-list', 'list'];
  it('finds typos and topic mates', () => {
    expect(suggestCommands('kraite:acount-add', ids)[0]).toBe('kraite:account-add');
    expect(suggestCommands('migrate:stat', ids)[0]).toBe('migrate:status');
    expect(suggestCommands('nope:nope', ids).length).toBeGreaterThan(0);
  });
});

describe('masking', () => {
  it('removes passwords and secret fields', () => {
    expect(maskUrl('mysql://root:pw@h:3306/db')).toBe('mysql://root:****@h:3306/db');
    expect(maskUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redact({ a: 1, api_secret: 'x', nested: { listenKey: 'k', ok: 'y' } })).toEqual({ a: 1, api_secret: '[redacted]', nested: { listenKey: '[redacted]', ok: 'y' } });
  });
});
