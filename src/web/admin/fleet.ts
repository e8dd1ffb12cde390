/** Fleet heartbeat: one row per host from the `kraite:fleet-report` snapshots in Redis (../data/fleet.ts). */
import type { FastifyInstance } from 'fastify';
import { FLEET_STALE_SECONDS, fleetSection } from '../data/fleet.js';
import { html } from '../html.js';
import type { WebServices } from '../services.js';
import { badge, card, fmtAge, gauge, sectionBody, stat, table } from '../views.js';
import { renderPage } from './page.js';

export function registerFleet(app: FastifyInstance, s: WebServices): void {
  app.get('/fleet', async (req, reply) => {
    const sec = await fleetSection(s.data);
    const body = sectionBody(sec, (hosts) => {
      const online = hosts.filter((h) => h.status === 'online').length;
      const kpis = html`<div class="stats">${stat('Hosts', String(hosts.length))}${stat('Online', String(online))}${stat('Need attention', String(hosts.length - online), `stale after ${FLEET_STALE_SECONDS / 60} min, missing when no report`)}</div>`;
      const rows = hosts.map(
        (h) => html`<tr class="status-${h.status}"><td><strong>${h.hostname}</strong>${h.recentlyRebooted ? html` <span class="badge tone-warn">rebooted</span>` : ''}</td><td>${badge(h.status)}</td><td>${h.role ?? '—'}</td><td>${h.version ?? '—'}</td>
<td>${gauge(h.cpu.percent)}</td><td>${gauge(h.ram.percent)}</td><td>${gauge(h.disk.percent)}</td><td class="num">${fmtAge(h.uptimeSeconds)}</td>
<td>${h.units.length ? h.units.map((u) => html`<span class="badge tone-${u.state === 'RUNNING' ? 'ok' : 'bad'}" title="${u.name}: ${u.state}">${u.name}</span> `) : html`<span class="muted">—</span>`}</td>
<td class="num">${h.ageSeconds === null ? '—' : `${fmtAge(h.ageSeconds)} ago`}</td><td class="small">${h.issues.join('; ')}</td></tr>`,
      );
      return html`${kpis}${table(['Host', 'Status', 'Role', 'Version', 'CPU', 'RAM', 'Disk', 'Uptime', 'Programs', 'Last report', 'Issues'], rows, {
        empty: 'No fleet report yet: kraite:fleet-report has not run on any host (and WEB_FLEET_HOSTS lists none).',
      })}`;
    });
    return renderPage(req, reply, { title: 'Fleet', active: 'fleet', body: card('Fleet heartbeat', body, { hint: `Redis ${s.prefix}:fleet:<host>` }), noscriptRefresh: 30 });
  });
}
