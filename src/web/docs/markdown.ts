/**
 * Markdown to HTML for the docs site: markdown-it (raw HTML in the source is escaped, never passed
 * through), highlight.js for fenced code, slugged ids on headings (h2/h3 feed the on-page table of
 * contents), and links between docs files rewritten to site URLs (contracts.md#flags → /contracts#flags).
 */
import MarkdownIt from 'markdown-it';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import diff from 'highlight.js/lib/languages/diff';
import ini from 'highlight.js/lib/languages/ini';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import nginx from 'highlight.js/lib/languages/nginx';
import plaintext from 'highlight.js/lib/languages/plaintext';
import shell from 'highlight.js/lib/languages/shell';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import yaml from 'highlight.js/lib/languages/yaml';
import { escapeHtml } from '../html.js';

hljs.registerLanguage('bash', bash);
hljs.registerLanguage('sh', bash);
hljs.registerLanguage('shell', shell);
hljs.registerLanguage('console', shell);
hljs.registerLanguage('diff', diff);
hljs.registerLanguage('ini', ini);
hljs.registerLanguage('toml', ini);
hljs.registerLanguage('cron', bash);
hljs.registerLanguage('javascript', javascript);
hljs.registerLanguage('js', javascript);
hljs.registerLanguage('json', json);
hljs.registerLanguage('nginx', nginx);
hljs.registerLanguage('plaintext', plaintext);
hljs.registerLanguage('text', plaintext);
hljs.registerLanguage('sql', sql);
hljs.registerLanguage('typescript', typescript);
hljs.registerLanguage('ts', typescript);
hljs.registerLanguage('yaml', yaml);

export interface Heading {
  level: number;
  text: string;
  id: string;
}

export interface RenderedDoc {
  title: string;
  html: string;
  headings: Heading[];
  /** Plain text per h1/h2 section, for the search index. */
  sections: Array<{ id: string; title: string; text: string }>;
}

export function slugify(text: string): string {
  return (
    text
      .toLowerCase()
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .replace(/[`*_~"'()[\]{}<>.,:;!?/\\|@#$%^&+=]/g, '')
      .trim()
      .replace(/\s+/g, '-')
      .replace(/-+/g, '-')
      .slice(0, 80) || 'section'
  );
}

const md = new MarkdownIt({
  html: false,
  linkify: true,
  typographer: false,
  highlight(code, lang) {
    const l = (lang || '').trim().toLowerCase();
    if (l && hljs.getLanguage(l)) {
      try {
        return `<pre class="hljs"><code class="language-${escapeHtml(l)}">${hljs.highlight(code, { language: l, ignoreIllegals: true }).value}</code></pre>`;
      } catch {
        // fall through to plain escaped code
      }
    }
    return `<pre class="hljs"><code>${escapeHtml(code)}</code></pre>`;
  },
});

function rewriteHref(href: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('#') || href.startsWith('/')) return href;
  const m = /^(?:\.\/)?([A-Za-z0-9_-]+)\.md(#.*)?$/.exec(href);
  if (m) return `/${m[1]!.toLowerCase() === 'index' ? '' : m[1]!.toLowerCase()}${m[2] ?? ''}`;
  return href;
}

export function renderMarkdown(source: string, fallbackTitle: string): RenderedDoc {
  const env = {};
  const tokens = md.parse(source, env);
  const headings: Heading[] = [];
  const used = new Map<string, number>();
  let title: string | null = null;
  const sections: RenderedDoc['sections'] = [];
  let current: { id: string; title: string; text: string[] } = { id: '', title: fallbackTitle, text: [] };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.type === 'heading_open') {
      const inline = tokens[i + 1];
      const text = (inline?.children ?? []).filter((c) => c.type === 'text' || c.type === 'code_inline').map((c) => c.content).join('') || inline?.content || '';
      const level = Number(t.tag.slice(1));
      let id = slugify(text);
      const n = used.get(id) ?? 0;
      used.set(id, n + 1);
      if (n) id = `${id}-${n}`;
      t.attrSet('id', id);
      if (level === 1 && title === null) title = text;
      if (level >= 2 && level <= 3) headings.push({ level, text, id });
      if (level <= 2) {
        sections.push({ id: current.id, title: current.title, text: current.text.join(' ') });
        current = { id: level === 1 ? '' : id, title: text, text: [] };
      }
    } else if (t.type === 'inline') {
      current.text.push(t.content);
      for (const c of t.children ?? []) if (c.type === 'link_open') c.attrSet('href', rewriteHref(String(c.attrGet('href') ?? '')));
    } else if (t.type === 'fence' || t.type === 'code_block') {
      current.text.push(t.content);
    }
  }
  sections.push({ id: current.id, title: current.title, text: current.text.join(' ') });
  return { title: title ?? fallbackTitle, html: md.renderer.render(tokens, md.options, env), headings, sections: sections.filter((s) => s.text.trim() || s.id) };
}
