/**
 * Dashboard: box health, dispatcher per set, streams, queues, scheduler and recent alerts.
 * GET /dashboard renders every panel on the server (works without JavaScript; a <noscript> refresh every
 * 10 s); admin.js then opens /api/stream/dashboard (SSE) and swaps in the panels re-rendered every 2 s.
 * GET /api/dashboard is the same data as JSON.
 */
import type { FastifyInstance } from 'fastify';
import { html, type SafeHtml } from '../html.js';
import type { WebServices } from '../services.js';
import { openSse } from '../sse.js';
import { badge, card, fmtAge, fmtNum, fmtTime, gauge, sectionBody, stat, table } from '../views.js';
import type { DashboardSnapshot } from './dashboard-hub.js';
import { renderPage } from './page.js';
import { MARK_PRICE_STALE_SECONDS } from '../data/streams.js';

function healthPanel(d: DashboardSnapshot): SafeHtml {
  const h = d.health;
  return html`<div class="stats">
  ${stat('CPU', gauge(h.cpu.percent), h.cpu.cores ? `${h.cpu.cores} cores · load ${h.cpu.load1 ?? '—'}` : undefined)}
  ${stat('RAM', gauge(h.ram.percent), h.ram.totalMb ? `${fmtNum(h.ram.usedMb)} / ${fmtNum(h.ram.totalMb)} MB` : undefined)}
  ${stat('Disk', gauge(h.disk.percent), h.disk.totalGb ? `${fmtNum(h.disk.usedGb, 1)} / ${fmtNum(h.disk.totalGb, 1)} GB on ${h.disk.path}` : undefined)}
  ${stat('Uptime', fmtAge(h.uptimeSeconds), h.hostname)}
</div>`;
}

function dispatcherPanel(d: DashboardSnapshot): SafeHtml {
  return sectionBody(d.dispatcher, (v) => {
    const daemon = v.daemon
      ? html`<p>${v.daemon.gate ? html`${badge('gated', `gated: ${v.daemon.gate}`)} ` : v.daemon.status === 'stopping' ? html`${badge('paused', 'stopping')} ` : ''}Daemon on <strong>${v.daemon.host}</strong> (pid ${v.daemon.pid}), heartbeat ${fmtAge(v.daemon.ageSeconds)} ago, last cycle ${fmtAge(v.daemon.lastCycleAgeSeconds)} ago.</p>`
      : html`<p>${badge('not running')} No <code>dispatch-daemon</code> heartbeat in Redis.</p>`;
    const kill = v.killSwitch ? html`<p class="flash flash-error">CAN_DISPATCH_STEPS=false: the kill switch is on.</p>` : '';
    const rows = v.sets.map(
      (s) => html`<tr>
  <td><a href="/steps?set=${s.set}">${s.set}</a></td>
  <td>${badge(s.status)}${s.pause ? html` <span class="muted small" title="${s.pause.reason}">paused ${s.pause.expires_in_seconds ? `for ${fmtAge(s.pause.expires_in_seconds)}` : 'until resumed'}</span>` : ''}</td>
  <td class="num">${s.active ? fmtNum(s.active.pending + s.active.dispatched + s.active.running) : '—'}</td>
  <td class="num">${s.active ? html`${fmtNum(s.active.pending)} / ${fmtNum(s.active.dispatched)} / ${fmtNum(s.active.running)}` : '—'}</td>
  <td class="num">${fmtAge(s.lastTickAgeSeconds)}</td>
  <td class="num">${s.ticksPerSec === null ? '—' : fmtNum(s.ticksPerSec, 1)}</td>
  <td class="num">${s.dispatchedPerMin === null ? '—' : fmtNum(s.dispatchedPerMin)}</td>
  <td>${s.saturationPercent === null ? html`<span class="muted">no data</span>` : gauge(s.saturationPercent)}</td>
</tr>`,
    );
    return html`${kill}${daemon}${table(['Set', 'Status', 'Active', 'Pending / dispatched / running', 'Last tick', 'Ticks/s', 'Dispatched/min', 'Saturation'], rows)}`;
  });
}

function streamsPanel(d: DashboardSnapshot): SafeHtml {
  return sectionBody(d.streams, (v) => {
    const ud = v.userData.running
      ? html`${badge('running')} User-data: <strong>${fmtNum(v.userData.accountsConnected)}</strong> of ${fmtNum(v.userData.accountsTotal)} sockets connected${v.userData.deadLettersPending ? html`, <span class="bad">${v.userData.deadLettersPending} dead letters pending</span>` : ''}.`
      : html`${badge('not running')} User-data stream: no heartbeat.`;
    const pr = v.prices.running
      ? html`${badge(v.prices.connected ? 'connected' : 'down', v.prices.connected ? 'connected' : 'disconnected')} Mark prices on ${v.prices.host}: ${v.prices.symbolsKnown === null ? '' : html`${fmtNum(v.prices.symbolsKnown)} symbols, `}last frame ${fmtAge(v.prices.lastFrameAgeSeconds)} ago, last flush ${fmtAge(v.prices.lastFlushAgeSeconds)} ago.`
      : html`${badge('not running')} Price stream: no heartbeat.`;
    const mp = v.markPrices;
    const stale = mp.symbols === 0 ? html`<span class="muted">no symbols yet</span>` : html`<strong class="${mp.stale ? 'bad' : 'ok'}">${fmtNum(mp.stale)}</strong> of ${fmtNum(mp.symbols)} symbols have a mark price older than ${MARK_PRICE_STALE_SECONDS} s (newest ${fmtAge(mp.newestAgeSeconds)} ago)`;
    const rows = v.accounts.map(
      (a) => html`<tr><td>${a.name} <span class="muted">#${a.id}</span>${a.active ? '' : html` ${badge('mute', 'inactive')}`}</td>
  <td>${a.connected === null ? html`<span class="muted">—</span>` : badge(a.connected ? 'connected' : 'down', a.connected ? 'connected' : 'disconnected')}${a.reconnects ? html` <span class="muted small">${a.reconnects} reconnects</span>` : ''}</td>
  <td class="num">${fmtAge(a.lastFrameAgeSeconds)}</td>
  <td>${a.socketKeyStatus ? html`${badge(a.socketKeyStatus, `key ${a.socketKeyStatus}`)} ` : ''}${a.hasKey ? html`${badge(a.keepAliveStatus ?? 'unknown', `keep-alive ${a.keepAliveStatus ?? 'not yet'}`)}${a.failureCount ? html` <span class="bad small">${a.failureCount} failures</span>` : ''}` : html`<span class="muted">no key</span>`}</td>
  <td class="num">${fmtAge(a.keepAliveAgeSeconds)}</td></tr>`,
    );
    return html`<p>${ud}</p><p>${pr}</p><p>${stale}.</p>${table(['Account', 'Socket', 'Last frame', 'Listen key', 'Keep-alive age'], rows, { empty: 'No accounts.' })}`;
  });
}

function queuesPanel(d: DashboardSnapshot): SafeHtml {
  return sectionBody(d.queues, (v) => {
    const masters = v.horizon.length
      ? html`<p>${v.horizon.map((m) => html`${badge(m.status)} Horizon on <strong>${m.host}</strong>: ${m.supervisors.length} supervisors, ${m.supervisors.reduce((n, s) => n + s.processes.length, 0)} processes (state ${fmtAge(m.ageSeconds)} old). `)}</p>`
      : html`<p>${badge('not running')} No Horizon master state in Redis.</p>`;
    const rows = v.queues.map(
      (q) => html`<tr><td><a href="/queues#q-${q.name}">${q.name}</a></td><td class="num">${fmtNum(q.waiting + q.prioritized)}</td><td class="num">${fmtNum(q.active)}</td><td class="num">${fmtNum(q.delayed)}</td>
  <td class="num ${q.failed ? 'bad' : ''}">${fmtNum(q.failed)}</td><td class="num">${q.completedLastMinute === null ? html`<span class="muted">no metrics</span>` : html`${fmtNum(q.completedLastMinute)}/min`}</td><td class="num">${fmtAge(q.oldestWaitSeconds)}</td></tr>`,
    );
    return html`${masters}${table(['Queue', 'Waiting', 'Active', 'Delayed', 'Failed', 'Throughput', 'Wait'], rows, { empty: 'No queues yet.' })}`;
  });
}

function schedulerPanel(d: DashboardSnapshot): SafeHtml {
  return sectionBody(d.scheduler, (v) => {
    const head = html`<p>${v.paused ? html`${badge('paused')} Schedule paused${v.paused.reason ? html`: ${v.paused.reason}` : ''}.` : ''}
  ${v.heartbeat ? html`Last <code>schedule:run</code> on ${v.heartbeat.host} ${fmtAge(v.heartbeat.lastRunAgeSeconds ?? v.heartbeat.ageSeconds)} ago.` : html`${badge('not running')} No scheduler heartbeat.`}</p>`;
    const rows = v.tasks.map(
      (t) => html`<tr><td><code>${t.command || t.taskId}</code></td><td>${badge(t.lastRun.status)}</td><td>${fmtTime(t.lastRun.started_at)}</td><td class="num ${t.failures24h ? 'bad' : ''}">${t.failures24h} / ${t.runs24h}</td></tr>`,
    );
    return html`${head}${table(['Task', 'Last run', 'Started', 'Failed / runs (24 h)'], rows, { empty: 'No task has run yet.' })}`;
  });
}

function alertsPanel(d: DashboardSnapshot): SafeHtml {
  return sectionBody(d.alerts, (rows) =>
    table(
      ['When', 'Severity', 'Alert', 'Host'],
      rows.map((a) => html`<tr><td>${fmtTime(a.createdAt)}</td><td>${badge(a.severity)}</td><td><strong>${a.title}</strong>${a.message ? html`<br><span class="muted small">${a.message.slice(0, 300)}</span>` : ''}<br><code class="small">${a.canonical}</code></td><td>${a.hostname ?? ''}</td></tr>`),
      { empty: 'No alerts.' },
    ),
  );
}

export const PANELS: Record<string, { title: string; render: (d: DashboardSnapshot) => SafeHtml; wide?: boolean }> = {
  health: { title: 'Box health', render: healthPanel },
  alerts: { title: 'Recent alerts', render: alertsPanel },
  dispatcher: { title: 'Dispatcher', render: dispatcherPanel, wide: true },
  streams: { title: 'Streams', render: streamsPanel },
  queues: { title: 'Queues', render: queuesPanel },
  scheduler: { title: 'Scheduler', render: schedulerPanel, wide: true },
};

export function renderPanels(d: DashboardSnapshot): Record<string, string> {
  return Object.fromEntries(Object.entries(PANELS).map(([k, p]) => [k, p.render(d).value]));
}

export function registerDashboard(app: FastifyInstance, s: WebServices): void {
  app.get('/dashboard', async (req, reply) => {
    const { data } = await s.dashboard.snapshot();
    const body = html`<p class="live-line"><span class="live-dot" data-live-status>static</span> Updated <span data-live-at>${fmtTime(data.at)}</span></p>
<div class="grid" data-live-dashboard="/api/stream/dashboard">
${Object.entries(PANELS).map(([id, p]) => card(p.title, html`<div data-panel="${id}">${p.render(data)}</div>`, { id: `panel-${id}`, wide: p.wide }))}
</div>`;
    return renderPage(req, reply, { title: 'Dashboard', active: 'dashboard', body, noscriptRefresh: 10 });
  });

  app.get('/api/dashboard', async (_req, reply) => {
    const { json } = await s.dashboard.snapshot();
    return reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send(json);
  });

  app.get('/api/stream/dashboard', async (req, reply) => {
    const sse = openSse(req, reply, s);
    const send = (d: DashboardSnapshot) => sse.send('snapshot', { at: d.at, panels: renderPanels(d) });
    try {
      send((await s.dashboard.snapshot()).data);
    } catch (err) {
      s.log.error('dashboard snapshot failed', { err });
      sse.send('problem', { message: 'The dashboard could not be computed; retrying.' });
    }
    const unsubscribe = s.dashboard.subscribe(send);
    sse.onClose(unsubscribe);
  });
}
