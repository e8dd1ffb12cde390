/** The audit log: every state-changing admin action, SQL query, command run and login outcome. */
import type { FastifyInstance } from 'fastify';
import { auditActions, listAudit } from '../../db/repositories/audit-log.js';
import { html, qs } from '../html.js';
import type { WebServices } from '../services.js';
import { card, fmtTime, table } from '../views.js';
import { intParam, renderPage, strParam } from './page.js';

export function registerAudit(app: FastifyInstance, s: WebServices): void {
  app.get('/audit', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const action = strParam(q.action, 64);
    const actor = strParam(q.actor, 191);
    const before = intParam(q.before) ?? undefined;
    const rows = await listAudit(s.db, { action, actor, beforeId: before, limit: 50 });
    const actions = await auditActions(s.db);
    const filter = html`<form method="get" action="/audit" class="filters"><label>Action <select name="action"><option value="">any</option>${actions.map((a) => html`<option${a === action ? html` selected` : ''}>${a}</option>`)}</select></label>
<label>Actor <input name="actor" value="${actor ?? ''}"></label> <button type="submit">Filter</button> <a href="/audit">Reset</a></form>`;
    const list = table(
      ['#', 'When', 'Actor', 'Action', 'Target', 'Details', 'IP'],
      rows.map(
        (r) => html`<tr><td class="num">${r.id}</td><td>${fmtTime(r.created_at)}</td><td>${r.actor}</td><td><code>${r.action}</code></td><td>${r.target ?? ''}</td>
<td>${r.details ? html`<details><summary>${Object.keys(r.details).slice(0, 4).join(', ')}</summary><pre class="code">${JSON.stringify(r.details, null, 2)}</pre></details>` : ''}</td><td>${r.ip ?? ''}</td></tr>`,
      ),
      { empty: 'Nothing audited yet.' },
    );
    const more = rows.length === 50 ? html`<p><a href="/audit${qs({ action, actor, before: rows[rows.length - 1]!.id })}">Older →</a></p>` : '';
    return renderPage(req, reply, { title: 'Audit log', active: 'audit', body: card('Audit log', html`${filter}${list}${more}`) });
  });
}
