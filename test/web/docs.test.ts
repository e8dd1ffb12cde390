/** The docs site: Markdown rendering (escaped HTML, ids, links, highlighting), navigation, the generated CLI reference and search. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderMarkdown, slugify } from '../../src/web/docs/markdown.js';
import { DocsSite } from '../../src/web/docs/site.js';
import { readManifest } from '../../src/launcher/manifest.js';
import { createLogger } from '../../src/support/log.js';
import { html, raw, escapeHtml } from '../../src/web/html.js';
import { createTestContext, type TestContext } from '../support/context.js';
import { buildTestWeb, HOSTS, type TestWeb } from './support/web.js';

describe('html templates', () => {
  it('escapes interpolations unless they are SafeHtml', () => {
    const user = `<script>alert("x")</script>'&`;
    expect(html`<p title="${user}">${user}</p>`.value).toBe('<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;</p>');
    expect(html`<div>${html`<b>${'<i>'}</b>`}${raw('<hr>')}${[1, '<', null, false, undefined]}</div>`.value).toBe('<div><b>&lt;i&gt;</b><hr>1&lt;</div>');
    expect(escapeHtml('`')).toBe('&#96;');
  });
});

describe('markdown', () => {
  it('renders headings with ids, a TOC, highlighted code, rewritten doc links and escaped raw HTML', () => {
    const r = renderMarkdown(['# Title', '', 'See [contracts](contracts.md#flags) and [home](index.md).', '', '## The `web` part', '', '### Again', '', '## The `web` part', '', '<script>alert(1)</script>', '', '```ts', 'const x: number = 1;', '```'].join('\n'), 'fallback');
    expect(r.title).toBe('Title');
    expect(r.headings).toEqual([
      { level: 2, text: 'The web part', id: 'the-web-part' },
      { level: 3, text: 'Again', id: 'again' },
      { level: 2, text: 'The web part', id: 'the-web-part-1' },
    ]);
    expect(r.html).toContain('<h2 id="the-web-part">');
    expect(r.html).toContain('href="/contracts#flags"');
    expect(r.html).toContain('href="/"');
    expect(r.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(r.html).not.toContain('<script>');
    expect(r.html).toContain('<span class="hljs-keyword">const</span>');
    expect(slugify('Mark prices: fresh?')).toBe('mark-prices-fresh');
  });
});

describe('docs site', () => {
  let dir: string;
  let site: DocsSite;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-docs-'));
    fs.writeFileSync(path.join(dir, 'index.md'), '# Home\n\nWelcome.\n');
    fs.writeFileSync(path.join(dir, 'architecture.md'), '# Architecture\n\n## Shared state\n\nRedis keys and the dispatcher heartbeat.\n');
    fs.writeFileSync(path.join(dir, 'zebra.md'), '# Zebra notes\n\nStripes.\n');
    site = new DocsSite({ docsDir: dir, manifest: () => readManifest(), log: createLogger('docs-test') });
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('renders whatever .md files exist, with unknown ones under "More", in navigation order', () => {
    expect(site.nav().map((s) => [s.title, s.pages.map((p) => p.slug)])).toEqual([
      ['Start here', ['index', 'architecture']],
      ['More', ['zebra']],
    ]);
    expect(site.neighbours('architecture').prev?.slug).toBe('index');
    expect(site.neighbours('architecture').next?.slug).toBe('zebra');
  });

  it('finds page sections and command pages with server-side search', () => {
    const hits = site.search('dispatcher heartbeat');
    // the best page hit is the section (anchor and heading), and the real manifest's daemon that writes
    // that heartbeat is found too (its command page may rank above the section: both match)
    expect(hits.find((h) => h.kind === 'page')).toMatchObject({ url: '/architecture#shared-state', title: 'Shared state', kind: 'page' });
    expect(hits.slice(0, 3).map((h) => h.url)).toContain('/architecture#shared-state');
    expect(hits.map((h) => h.url)).toContain('/commands/kraite:dispatch-daemon');
    const cmd = site.search('kraite:account-list');
    expect(cmd[0]).toMatchObject({ url: '/commands/kraite:account-list', kind: 'command' });
    expect(site.search('masked key secret').some((h) => h.url === '/commands/kraite:account-list')).toBe(true);
  });

  it('generates a reference page for every visible command of the manifest', () => {
    const manifest = readManifest()!;
    const visible = Object.values(manifest.commands).filter((c) => !c.hidden);
    expect(site.commands().map((c) => c.id)).toEqual(visible.map((c) => c.id).sort());
  });

  it('picks up a new file within the rescan interval', () => {
    fs.writeFileSync(path.join(dir, 'scheduler.md'), '# Scheduler\n');
    (site as unknown as { checkedAt: number }).checkedAt = 0;
    expect(site.page('scheduler')?.title).toBe('Scheduler');
  });
});

describe('docs vhost', () => {
  let ctx: TestContext;
  let web: TestWeb;

  beforeAll(async () => {
    ctx = await createTestContext('web-docs');
    web = await buildTestWeb(ctx);
  });

  afterAll(async () => {
    await web?.close();
    await ctx?.cleanup();
  });

  const get = (url: string) => web.app.inject({ method: 'GET', url, headers: { host: HOSTS.DOCS_HOST } });

  it('serves every docs/*.md page, the command reference and search', async () => {
    for (const f of fs.readdirSync(path.resolve(import.meta.dirname, '../../docs')).filter((x) => x.endsWith('.md'))) {
      const slug = f.replace(/\.md$/, '');
      const r = await get(slug === 'index' ? '/' : `/${slug}`);
      expect(r.statusCode, f).toBe(200);
      expect(r.body).toContain('<nav class="docs-nav"');
    }
    const arch = await get('/architecture');
    expect(arch.body).toContain('aria-label="On this page"');
    const ref = await get('/commands/kraite:account-list');
    expect(ref.statusCode).toBe(200);
    expect(ref.body).toContain('bin/artisan kraite:account-list [--json]');
    expect(ref.body).toContain('read-only');
    expect((await get('/commands')).body).toContain('/commands/user:create');
    const s = await get('/search?q=account-list');
    expect(s.body).toContain('href="/commands/kraite:account-list"');
    expect((await get('/search?q=%3Cscript%3E')).body).not.toContain('<script>');
    expect((await get('/nope')).statusCode).toBe(404);
    expect((await get('/commands/nope:nope')).statusCode).toBe(404);
  });
});
