/**
 * The docs site's content: every docs/*.md rendered to HTML, a generated reference page per CLI command
 * (from oclif.manifest.json, so it cannot go stale), navigation, and a server-side search index
 * (MiniSearch) over page sections and command pages, so search works without JavaScript.
 * Files are re-scanned at most every 5 s; a changed file or manifest rebuilds the site in memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import MiniSearch from 'minisearch';
import type { Manifest, ManifestCommand } from '../../launcher/manifest.js';
import type { Logger } from '../../support/log.js';
import { projectRoot } from '../../support/paths.js';
import { renderMarkdown, type Heading } from './markdown.js';

export interface DocPage {
  slug: string;
  file: string;
  title: string;
  html: string;
  headings: Heading[];
  section: string;
}

export interface SearchHit {
  url: string;
  title: string;
  page: string;
  snippet: string;
  terms: string[];
  kind: 'page' | 'command';
}

export const NAV_SECTIONS: Array<{ title: string; pages: string[] }> = [
  { title: 'Start here', pages: ['index', 'architecture', 'server'] },
  { title: 'Daemons and parts', pages: ['daemons', 'scheduler', 'dispatcher', 'streams', 'horizon', 'web'] },
  { title: 'Operations', pages: ['runbook', 'operations'] },
  { title: 'For developers', pages: ['contracts', 'development'] },
];

interface SearchDoc {
  id: string;
  url: string;
  title: string;
  page: string;
  text: string;
  kind: 'page' | 'command';
}

export class DocsSite {
  private readonly dir: string;
  private checkedAt = 0;
  private signature = '';
  private pages = new Map<string, DocPage>();
  private order: string[] = [];
  private index: MiniSearch<SearchDoc> | null = null;
  private docsById = new Map<string, SearchDoc>();
  private manifest: Manifest | null = null;

  constructor(private readonly opts: { docsDir?: string; manifest: () => Manifest | null; log: Logger }) {
    this.dir = opts.docsDir ?? path.join(projectRoot, 'docs');
  }

  private scan(): void {
    const now = Date.now();
    if (now - this.checkedAt < 5000 && this.index) return;
    this.checkedAt = now;
    let files: string[] = [];
    try {
      files = fs.readdirSync(this.dir).filter((f) => f.endsWith('.md')).sort();
    } catch (err) {
      this.opts.log.warn('docs folder unreadable', { dir: this.dir, err });
    }
    const manifest = this.opts.manifest();
    const sig = files.map((f) => `${f}:${fs.statSync(path.join(this.dir, f)).mtimeMs}`).join('|') + `|m:${manifest ? Object.keys(manifest.commands).length + manifest.version : 'none'}`;
    if (sig === this.signature && this.index) return;
    this.signature = sig;
    this.build(files, manifest);
  }

  private build(files: string[], manifest: Manifest | null): void {
    const pages = new Map<string, DocPage>();
    const docs: SearchDoc[] = [];
    const sectionOf = (slug: string) => NAV_SECTIONS.find((s) => s.pages.includes(slug))?.title ?? 'More';
    for (const f of files) {
      const slug = f.replace(/\.md$/, '').toLowerCase();
      if (!/^[a-z0-9_-]+$/.test(slug)) continue;
      const src = fs.readFileSync(path.join(this.dir, f), 'utf8');
      const r = renderMarkdown(src, slug);
      pages.set(slug, { slug, file: f, title: r.title, html: r.html, headings: r.headings, section: sectionOf(slug) });
      const url = slug === 'index' ? '/' : `/${slug}`;
      for (const sec of r.sections) docs.push({ id: `${slug}#${sec.id}`, url: sec.id ? `${url}#${sec.id}` : url, title: sec.title, page: r.title, text: sec.text, kind: 'page' });
    }
    for (const c of Object.values(manifest?.commands ?? {})) {
      if (c.hidden) continue;
      docs.push({ id: `cmd:${c.id}`, url: `/commands/${c.id}`, title: `${c.id}`, page: 'CLI reference', text: commandText(c), kind: 'command' });
    }
    const known = NAV_SECTIONS.flatMap((s) => s.pages).filter((p) => pages.has(p));
    const extra = [...pages.keys()].filter((p) => !known.includes(p)).sort();
    this.order = [...known, ...extra];
    this.pages = pages;
    this.manifest = manifest;
    const index = new MiniSearch<SearchDoc>({
      fields: ['title', 'text', 'page'],
      storeFields: ['url', 'title', 'page', 'kind'],
      searchOptions: { boost: { title: 3, page: 1.5 }, prefix: true, fuzzy: 0.15, combineWith: 'AND' },
      tokenize: (text) => text.toLowerCase().split(/[^a-z0-9_:-]+/).flatMap((t) => (t.includes(':') || t.includes('-') ? [t, ...t.split(/[:-]/)] : [t])).filter(Boolean),
    });
    index.addAll(docs);
    this.index = index;
    this.docsById = new Map(docs.map((d) => [d.id, d]));
  }

  /** Changes whenever a docs file or the manifest changes (for caching rendered pages). */
  version(): string {
    this.scan();
    return this.signature;
  }

  page(slug: string): DocPage | null {
    this.scan();
    return this.pages.get(slug) ?? null;
  }

  nav(): Array<{ title: string; pages: Array<{ slug: string; title: string }> }> {
    this.scan();
    const sections = NAV_SECTIONS.map((s) => ({ title: s.title, pages: s.pages.filter((p) => this.pages.has(p)).map((p) => ({ slug: p, title: this.pages.get(p)!.title })) }));
    const more = [...this.pages.values()].filter((p) => p.section === 'More').map((p) => ({ slug: p.slug, title: p.title }));
    if (more.length) sections.push({ title: 'More', pages: more });
    return sections.filter((s) => s.pages.length);
  }

  neighbours(slug: string): { prev: DocPage | null; next: DocPage | null } {
    this.scan();
    const i = this.order.indexOf(slug);
    return { prev: i > 0 ? this.pages.get(this.order[i - 1]!)! : null, next: i >= 0 && i < this.order.length - 1 ? this.pages.get(this.order[i + 1]!)! : null };
  }

  commands(): ManifestCommand[] {
    this.scan();
    return Object.values(this.manifest?.commands ?? {})
      .filter((c) => !c.hidden)
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  command(id: string): ManifestCommand | null {
    this.scan();
    const c = this.manifest?.commands[id];
    return c && !c.hidden ? c : null;
  }

  search(query: string, limit = 20): SearchHit[] {
    this.scan();
    const q = query.trim().slice(0, 200);
    if (!q || !this.index) return [];
    let results = this.index.search(q);
    if (!results.length) results = this.index.search(q, { combineWith: 'OR' });
    return results.slice(0, limit).map((r) => {
      const d = this.docsById.get(String(r.id))!;
      return { url: d.url, title: d.title, page: d.page, snippet: snippet(d.text, r.terms), terms: r.terms, kind: d.kind };
    });
  }
}

function commandText(c: ManifestCommand): string {
  const flags = Object.entries(c.flags)
    .filter(([, f]) => !f.hidden)
    .map(([n, f]) => `--${n} ${f.summary ?? f.description ?? ''}`);
  const args = Object.entries(c.args).map(([n, a]) => `${n} ${a.description ?? ''}`);
  const examples = (c.examples ?? []).map((e) => (typeof e === 'string' ? e : e.command));
  return [c.id, c.summary ?? '', c.description ?? '', ...flags, ...args, ...examples].join(' ').replace(/<%= config.bin %>/g, 'bin/artisan');
}

function snippet(text: string, terms: string[]): string {
  const clean = text.replace(/[#*_`|>]+/g, ' ').replace(/\s+/g, ' ').trim();
  const lower = clean.toLowerCase();
  let at = -1;
  for (const t of terms) {
    const i = lower.indexOf(t.toLowerCase());
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  const start = Math.max(0, at - 80);
  const s = clean.slice(start, start + 240);
  return `${start > 0 ? '…' : ''}${s}${start + 240 < clean.length ? '…' : ''}`;
}
