/**
 * The docs vhost (DOCS_HOST): docs/*.md pages with navigation, an on-page table of contents and
 * prev/next links; a generated reference page per CLI command; server-side search (works without
 * JavaScript). Pages carry no inline script, so rendered pages are cached in memory until a file changes.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ManifestCommand } from '../../launcher/manifest.js';
import { assetUrl } from '../assets.js';
import { html, raw, type SafeHtml } from '../html.js';
import type { WebServices } from '../services.js';
import type { DocsSite, SearchHit } from './site.js';

function layout(site: DocsSite, opts: { title: string; active: string; body: SafeHtml; toc?: SafeHtml; query?: string }): string {
  const nav = site.nav();
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${opts.title} — Athena docs</title>
<meta name="description" content="Athena: the ingestion brain and web edge of the Kraite trading fleet. Architecture, daemons, operations and CLI reference.">
<link rel="stylesheet" href="${assetUrl('docs.css')}">
<link rel="icon" href="${assetUrl('favicon.svg')}" type="image/svg+xml">
</head>
<body class="docs">
<header class="docs-top">
  <a class="brand" href="/"><span class="logo" aria-hidden="true">◆</span> Athena <span class="muted">docs</span></a>
  <form class="search" method="get" action="/search" role="search"><label class="sr-only" for="q">Search the docs</label><input id="q" type="search" name="q" placeholder="Search docs and commands" value="${opts.query ?? ''}"><button type="submit">Search</button></form>
</header>
<div class="docs-body">
<nav class="docs-nav" aria-label="Documentation">
${nav.map((s) => html`<h2>${s.title}</h2><ul>${s.pages.map((p) => html`<li><a href="${p.slug === 'index' ? '/' : `/${p.slug}`}"${p.slug === opts.active ? html` aria-current="page" class="active"` : ''}>${p.title}</a></li>`)}</ul>`)}
<h2>Reference</h2><ul><li><a href="/commands"${opts.active === 'commands' ? html` aria-current="page" class="active"` : ''}>CLI commands</a></li></ul>
</nav>
<main class="docs-main" id="content">${opts.body}</main>
${opts.toc ? html`<aside class="docs-toc" aria-label="On this page">${opts.toc}</aside>` : ''}
</div>
<footer class="docs-foot">Generated from <code>docs/*.md</code> and the CLI manifest of this build.</footer>
</body>
</html>`.value;
}

function toc(headings: Array<{ level: number; text: string; id: string }>): SafeHtml | undefined {
  if (headings.length < 2) return undefined;
  return html`<h2>On this page</h2><ul>${headings.map((h) => html`<li class="lvl-${h.level}"><a href="#${h.id}">${h.text}</a></li>`)}</ul>`;
}

function usage(c: ManifestCommand): string {
  const args = Object.entries(c.args).map(([n, a]) => (a.required ? n.toUpperCase() : `[${n.toUpperCase()}]`));
  const flags = Object.entries(c.flags)
    .filter(([, f]) => !f.hidden)
    .map(([n, f]) => (f.type === 'boolean' ? `[--${n}]` : f.required ? `--${n}=<value>` : `[--${n}=<value>]`));
  return ['bin/artisan', c.id, ...args, ...flags].join(' ');
}

function commandPage(c: ManifestCommand): SafeHtml {
  const examples = (c.examples ?? []).map((e) => (typeof e === 'string' ? { command: e, description: '' } : e)).map((e) => ({ ...e, command: e.command.replace(/<%= config.bin %>/g, 'bin/artisan') }));
  const flags = Object.entries(c.flags).filter(([, f]) => !f.hidden);
  const args = Object.entries(c.args);
  return html`<article class="prose">
<p class="eyebrow">CLI reference</p>
<h1 id="top"><code>${c.id}</code></h1>
<p class="lead">${c.summary ?? ''}</p>
${c.readOnly ? html`<p><span class="pill">read-only</span> This command only reads state.</p>` : ''}
<h2 id="usage">Usage</h2>
<pre class="hljs"><code>${usage(c)}</code></pre>
${c.description && c.description !== c.summary ? html`<h2 id="description">Description</h2>${c.description.split(/\n{2,}/).map((p) => html`<p>${p}</p>`)}` : ''}
${args.length ? html`<h2 id="arguments">Arguments</h2><table><thead><tr><th scope="col">Argument</th><th scope="col">Required</th><th scope="col">Description</th></tr></thead><tbody>${args.map(([n, a]) => html`<tr><td><code>${n.toUpperCase()}</code></td><td>${a.required ? 'yes' : 'no'}</td><td>${a.description ?? ''}${a.options?.length ? html` (one of ${a.options.join(', ')})` : ''}</td></tr>`)}</tbody></table>` : ''}
${flags.length ? html`<h2 id="flags">Flags</h2><table><thead><tr><th scope="col">Flag</th><th scope="col">Type</th><th scope="col">Default</th><th scope="col">Description</th></tr></thead><tbody>${flags.map(([n, f]) => html`<tr><td><code>--${n}</code>${f.char ? html`, <code>-${f.char}</code>` : ''}${f.required ? html` <span class="pill">required</span>` : ''}</td><td>${f.type === 'boolean' ? 'boolean' : f.options?.length ? f.options.join(' | ') : f.multiple ? 'value (repeatable)' : 'value'}</td><td>${f.default !== undefined && f.default !== null && f.default !== false ? html`<code>${String(f.default)}</code>` : '—'}</td><td>${f.summary ?? f.description ?? ''}</td></tr>`)}</tbody></table>` : ''}
${examples.length ? html`<h2 id="examples">Examples</h2>${examples.map((e) => html`${e.description ? html`<p>${e.description}</p>` : ''}<pre class="hljs"><code>${e.command}</code></pre>`)}` : ''}
${c.aliases?.length ? html`<p>Aliases: ${c.aliases.map((a) => html`<code>${a}</code> `)}</p>` : ''}
<p class="muted">Generated from <code>oclif.manifest.json</code>; <code>bin/artisan ${c.id} --help</code> prints the same.</p>
</article>`;
}

function highlight(text: string, terms: string[]): SafeHtml {
  if (!terms.length) return html`${text}`;
  const re = new RegExp(`(${terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`, 'gi');
  return html`${text.split(re).map((part, i) => (i % 2 ? html`<mark>${part}</mark>` : html`${part}`))}`;
}

export function registerDocs(app: FastifyInstance, s: WebServices): void {
  app.addHook('onRoute', (route) => {
    route.constraints = { ...(route.constraints ?? {}), vhost: 'docs' };
  });
  const site = s.docs;
  // Rendered pages are kept as UTF-8 buffers: a 30 KB page is not re-encoded on every request.
  const cache = new Map<string, { version: string; body: Buffer }>();
  const send = (reply: FastifyReply, body: string | Buffer, status = 200) => reply.code(status).header('cache-control', 'public, max-age=60').type('text/html; charset=utf-8').send(body);
  const cached = (key: string, make: () => string | null): Buffer | null => {
    const v = site.version();
    const hit = cache.get(key);
    if (hit && hit.version === v) return hit.body;
    const out = make();
    if (out === null) return null;
    const body = Buffer.from(out, 'utf8');
    if (cache.size > 2000) cache.clear(); // bounded: keys come from the manifest and docs/ (and 404s are not cached)
    cache.set(key, { version: v, body });
    return body;
  };

  const docPage = (slug: string) =>
    cached(`page:${slug}`, () => {
      const p = site.page(slug);
      if (!p) return null;
      const { prev, next } = site.neighbours(slug);
      const link = (d: { slug: string; title: string }) => (d.slug === 'index' ? '/' : `/${d.slug}`);
      const body = html`<article class="prose"><p class="eyebrow">${p.section}</p>${raw(p.html)}
<nav class="pager" aria-label="Pages">${prev ? html`<a class="prev" href="${link(prev)}">← ${prev.title}</a>` : html`<span></span>`}${next ? html`<a class="next" href="${link(next)}">${next.title} →</a>` : ''}</nav></article>`;
      return layout(site, { title: p.title, active: slug, body, toc: toc(p.headings) });
    });

  app.get('/', async (_req, reply) => {
    const out = docPage('index') ?? cached('home', () => layout(site, { title: 'Athena docs', active: 'index', body: html`<article class="prose"><h1>Athena docs</h1><p>Choose a page on the left, or search.</p></article>` }));
    return send(reply, out!);
  });

  app.get('/commands', async (_req, reply) => {
    const out = cached('commands', () => {
      const cmds = site.commands();
      const topics = new Map<string, ManifestCommand[]>();
      for (const c of cmds) {
        const t = c.id.includes(':') ? c.id.split(':')[0]! : 'general';
        topics.set(t, [...(topics.get(t) ?? []), c]);
      }
      const body = html`<article class="prose"><p class="eyebrow">Reference</p><h1>CLI commands</h1>
<p class="lead">Every command of <code>bin/artisan</code> in this build, generated from the oclif manifest (${cmds.length} commands). <code>:</code> separates topics; every command that reports data accepts <code>--json</code>.</p>
${[...topics.entries()].map(([t, list]) => html`<h2 id="${t}">${t}</h2><table><tbody>${list.map((c) => html`<tr><td><a href="/commands/${c.id}"><code>${c.id}</code></a></td><td>${c.summary ?? ''}</td></tr>`)}</tbody></table>`)}</article>`;
      return layout(site, { title: 'CLI commands', active: 'commands', body, toc: html`<h2>Topics</h2><ul>${[...topics.keys()].map((t) => html`<li><a href="#${t}">${t}</a></li>`)}</ul>` });
    });
    return send(reply, out!);
  });

  app.get('/commands/:id', async (req, reply) => {
    const id = (req.params as { id: string }).id;
    const out = cached(`cmd:${id}`, () => {
      const c = site.command(id);
      return c ? layout(site, { title: c.id, active: 'commands', body: commandPage(c), toc: html`<h2>On this page</h2><ul><li><a href="#usage">Usage</a></li><li><a href="#flags">Flags</a></li><li><a href="#examples">Examples</a></li></ul>` }) : null;
    });
    if (!out) return send(reply, layout(site, { title: 'Not found', active: 'commands', body: html`<article class="prose"><h1>No such command</h1><p><code>${id}</code> is not a command of this build. See <a href="/commands">all commands</a>.</p></article>` }), 404);
    return send(reply, out);
  });

  app.get('/search', async (req, reply) => {
    const q = String((req.query as Record<string, unknown>).q ?? '').slice(0, 200);
    const hits: SearchHit[] = q ? site.search(q) : [];
    const body = html`<article class="prose"><h1>Search</h1>
${q ? html`<p>${hits.length} result${hits.length === 1 ? '' : 's'} for <strong>${q}</strong>.</p>` : html`<p>Type a word: a command (<code>kraite:account-list</code>), a table, a Redis key, a daemon…</p>`}
<ol class="results">${hits.map((h) => html`<li><a href="${h.url}">${h.kind === 'command' ? html`<code>${h.title}</code>` : h.title}</a> <span class="muted">· ${h.page}</span><p>${highlight(h.snippet, h.terms)}</p></li>`)}</ol></article>`;
    return reply.code(200).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(layout(site, { title: q ? `Search: ${q}` : 'Search', active: '', body, query: q }));
  });

  app.get('/:slug', async (req, reply) => {
    const slug = (req.params as { slug: string }).slug.toLowerCase();
    if (!/^[a-z0-9_-]{1,80}$/.test(slug) || slug === 'index') return reply.callNotFound();
    const out = docPage(slug);
    if (!out) return reply.callNotFound();
    return send(reply, out);
  });
}
