/**
 * The marketing vhost (MARKETING_HOST): the Kraite landing page, a public status panel backed by a cached
 * endpoint (/status.json, 15 s), and the privacy and terms pages. Plain HTML and CSS; nothing needs
 * JavaScript. Also the shared error, 404 and maintenance pages of the public sites.
 */
import type { FastifyInstance } from 'fastify';
import type { MaintenanceState } from '../../support/box-flags.js';
import { assetUrl } from '../assets.js';
import { html, type SafeHtml } from '../html.js';
import type { WebServices } from '../services.js';
import type { Vhost } from '../vhost.js';
import type { PublicStatus, SignalState } from '../data/status.js';
import { landingBody, privacyBody, termsBody } from './content.js';

export function sitePage(opts: { title: string; body: SafeHtml; description?: string; css?: string }): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${opts.title}</title>
<meta name="description" content="${opts.description ?? 'Kraite trades Binance USDⓈ-M futures with laddered entries and a market-regime brake, built to survive liquidation cascades.'}">
<link rel="stylesheet" href="${assetUrl(opts.css ?? 'site.css')}">
<link rel="icon" href="${assetUrl('favicon.svg')}" type="image/svg+xml">
</head>
<body class="site">
<header class="site-top"><a class="brand" href="/"><span class="logo" aria-hidden="true">◆</span> Kraite</a>
<nav aria-label="Main"><a href="/#how">How it works</a><a href="/#safety">Safety</a><a href="/status">Status</a></nav></header>
<main id="content">${opts.body}</main>
<footer class="site-foot"><p>© Kraite. Trading derivatives carries a high risk of loss.</p><nav aria-label="Legal"><a href="/privacy-policy">Privacy policy</a> · <a href="/terms-and-conditions">Terms and conditions</a> · <a href="/status">System status</a></nav></footer>
</body>
</html>`.value;
}

const STATE_LABEL: Record<SignalState, string> = { ok: 'Operational', degraded: 'Degraded', down: 'Down', unknown: 'No data' };

export function statusPanel(st: PublicStatus): SafeHtml {
  const row = (name: string, s: { state: SignalState; label: string }) => html`<li class="signal state-${s.state}"><span class="dot" aria-hidden="true"></span><strong>${name}</strong> <span class="state">${STATE_LABEL[s.state]}</span><br><span class="detail">${s.label}</span></li>`;
  return html`<section class="status-panel" aria-labelledby="status-h">
<h2 id="status-h">System status: <span class="state-${st.overall}">${STATE_LABEL[st.overall]}</span></h2>
<ul>${row('Market data (mark prices)', st.mark_prices)}${row('Order engine (step dispatcher)', st.dispatcher)}</ul>
<p class="small">Checked <time datetime="${st.generated_at}">${st.generated_at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}</time>; refreshed every 15 seconds. Machine-readable: <a href="/status.json">/status.json</a>.</p>
</section>`;
}

const VHOST_CSS: Record<Vhost, string> = { admin: 'admin.css', docs: 'docs.css', marketing: 'site.css' };

function bare(vhost: Vhost, title: string, body: SafeHtml): string {
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title><link rel="stylesheet" href="${assetUrl(VHOST_CSS[vhost])}"><link rel="icon" href="${assetUrl('favicon.svg')}" type="image/svg+xml"></head>
<body class="bare ${vhost}"><main class="bare-box" id="content">${body}</main></body></html>`.value;
}

export function maintenancePage(vhost: Vhost | null, down: MaintenanceState, _nonce: string): string {
  const v = vhost ?? 'marketing';
  return bare(v, 'Down for maintenance', html`<h1>Down for maintenance</h1><p>${v === 'docs' ? 'The documentation' : 'Kraite'} is being updated and will be back shortly.${down.retry ? html` Please try again in about ${Math.ceil(down.retry / 60)} minute${down.retry > 60 ? 's' : ''}.` : ''}</p><p class="small">Open positions stay protected by their exchange-side orders while the site is down.</p>`);
}

export function notFoundPage(vhost: Vhost, url: string, _nonce: string): string {
  return bare(vhost, 'Not found', html`<h1>Not found</h1><p>There is nothing at <code>${url.split('?', 1)[0]!.slice(0, 200)}</code>.</p><p><a href="/">Go to the home page</a></p>`);
}

export function errorPage(vhost: Vhost, status: number, message: string, _nonce: string): string {
  const title = status === 403 ? 'Forbidden' : status === 401 ? 'Log in required' : status >= 500 ? 'Server error' : 'Request refused';
  return bare(vhost, title, html`<h1>${status} · ${title}</h1><p>${message}</p><p><a href="/">Home</a></p>`);
}

export function registerMarketing(app: FastifyInstance, s: WebServices): void {
  app.addHook('onRoute', (route) => {
    route.constraints = { ...(route.constraints ?? {}), vhost: 'marketing' };
  });
  const send = (reply: import('fastify').FastifyReply, body: string | Buffer, cache = 'public, max-age=300') => reply.header('cache-control', cache).type('text/html; charset=utf-8').send(body);
  let landing: { at: string; html: Buffer } | null = null;
  const privacy = Buffer.from(sitePage({ title: 'Privacy policy — Kraite', body: privacyBody() }));
  const terms = Buffer.from(sitePage({ title: 'Terms and conditions — Kraite', body: termsBody() }));

  app.get('/', async (_req, reply) => {
    const st = await s.publicStatus();
    if (!landing || landing.at !== st.generated_at) landing = { at: st.generated_at, html: Buffer.from(sitePage({ title: 'Kraite — survive the cascade', body: landingBody(statusPanel(st)) })) };
    return send(reply, landing.html, 'public, max-age=15');
  });
  app.get('/privacy-policy', async (_req, reply) => send(reply, privacy));
  app.get('/terms-and-conditions', async (_req, reply) => send(reply, terms));
  app.get('/privacy', async (_req, reply) => reply.code(301).header('location', '/privacy-policy').send());
  app.get('/terms', async (_req, reply) => reply.code(301).header('location', '/terms-and-conditions').send());

  app.get('/status.json', async (_req, reply) => {
    const st = await s.publicStatus();
    return reply.header('cache-control', 'public, max-age=15').header('access-control-allow-origin', '*').send(st);
  });

  app.get('/status', async (_req, reply) => {
    const st = await s.publicStatus();
    return send(
      reply,
      sitePage({
        title: 'System status — Kraite',
        body: html`<section class="page narrow"><h1>System status</h1>${statusPanel(st)}<p>This page shows two live signals of the trading engine. Market data is healthy when every listed futures symbol received a mark price from Binance within the last 60 seconds. The order engine is up when its dispatcher ticked within the last two minutes.</p></section>`,
      }),
      'public, max-age=15',
    );
  });
}
