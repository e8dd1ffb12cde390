/** Accounts drift: local positions and orders against the exchange snapshots (../data/drift.ts). */
import type { FastifyInstance } from 'fastify';
import { accountNames } from '../../db/repositories/accounts.js';
import { DRIFT_SNAPSHOT_MAX_AGE_SECONDS, readDrift, type AccountDrift, type OrderPair, type PositionPair } from '../data/drift.js';
import { html, qs, type SafeHtml } from '../html.js';
import type { WebServices } from '../services.js';
import { badge, card, fmtAge, table } from '../views.js';
import { intParam, renderPage } from './page.js';

function diffs(p: { diffs: Array<{ field: string; local: string | null; exchange: string | null }>; reason: string | null }): SafeHtml {
  return html`${p.diffs.map((d) => html`<div class="diff"><strong>${d.field}</strong>: local <code>${d.local ?? '—'}</code> ≠ exchange <code>${d.exchange ?? '—'}</code></div>`)}${p.reason ? html`<span class="muted small">${p.reason}</span>` : ''}`;
}

function orderRows(orders: OrderPair[]): SafeHtml[] {
  return orders.map(
    (o) => html`<tr class="order"><td>↳ order <code>${o.key}</code></td><td>${badge(o.status)}</td>
<td>${o.local ? html`${o.local.type} ${o.local.side} ${o.local.status} @ ${o.local.price ?? '—'} × ${o.local.quantity ?? '—'}` : html`<span class="muted">—</span>`}</td>
<td>${o.exchange ? html`${o.exchange.type} ${o.exchange.side} ${o.exchange.status} @ ${o.exchange.price ?? o.exchange.stopPrice ?? '—'} × ${o.exchange.quantity ?? '—'}` : html`<span class="muted">—</span>`}</td><td>${diffs(o)}</td></tr>`,
  );
}

function positionRows(p: PositionPair, onlyDrift: boolean): SafeHtml[] {
  const orders = onlyDrift ? p.orders.filter((o) => o.status !== 'synced') : p.orders;
  if (onlyDrift && p.status === 'synced' && !orders.length) return [];
  return [
    html`<tr class="position"><td><strong>${p.symbol}</strong> ${p.direction}</td><td>${badge(p.status)}</td>
<td>${p.local ? html`${p.local.status} · qty ${p.local.quantity ?? '—'} @ ${p.local.entryPrice ?? '—'}` : html`<span class="muted">—</span>`}</td>
<td>${p.exchange ? html`qty ${p.exchange.quantity} @ ${p.exchange.entryPrice ?? '—'}` : html`<span class="muted">—</span>`}</td><td>${diffs(p)}</td></tr>`,
    ...orderRows(orders),
  ];
}

function snap(label: string, info: AccountDrift['snapshots']['positions']): SafeHtml {
  if (!info) return html`<span class="badge tone-warn">${label}: none</span> `;
  return html`<span class="badge tone-${info.stale ? 'warn' : 'ok'}" title="${info.takenAt.toISOString()}">${label}: ${fmtAge(info.ageSeconds)} old</span> `;
}

function accountCard(a: AccountDrift, onlyDrift: boolean): SafeHtml {
  const head = a.outOfSync ? html`${badge('drift', `${a.outOfSync} out of sync`)}` : a.counts.unverified ? badge('unverified', `${a.counts.unverified} unverified`) : badge('synced', 'in sync with exchange');
  const rows = [...a.positions.flatMap((p) => positionRows(p, onlyDrift)), ...orderRows(onlyDrift ? a.orphanOrders.filter((o) => o.status !== 'synced') : a.orphanOrders)];
  return card(
    `${a.name} #${a.accountId}`,
    html`<p>${head} ${snap('positions', a.snapshots.positions)}${snap('open orders', a.snapshots.orders)}${snap('algo orders', a.snapshots.algo)}
<span class="muted small">synced ${a.counts.synced} · drift ${a.counts.drift} · local-only ${a.counts['local-only']} · exchange-only ${a.counts['exchange-only']} · unverified ${a.counts.unverified}</span></p>
${a.problems.map((p) => html`<p class="flash flash-info">${p}</p>`)}
${table(['Pair', 'Status', 'Local', 'Exchange', 'Differences'], rows, { empty: onlyDrift ? 'No drift.' : 'No open positions locally or on the exchange.' })}`,
    { id: `account-${a.accountId}` },
  );
}

export function registerDrift(app: FastifyInstance, s: WebServices): void {
  app.get('/drift', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const accountId = intParam(q.account) ?? undefined;
    const onlyDrift = q.only === 'drift';
    const d = await readDrift(s.data, { accountId });
    const all = await accountNames(s.db);
    const totals = d.accounts.reduce((n, a) => n + a.outOfSync, 0);
    const filter = html`<form method="get" action="/drift" class="filters"><label>Account <select name="account"><option value="">all</option>${all.map((a) => html`<option value="${a.id}"${a.id === accountId ? html` selected` : ''}>${a.name}</option>`)}</select></label>
<label><input type="checkbox" name="only" value="drift"${onlyDrift ? html` checked` : ''}> only drift</label> <button type="submit">Show</button></form>`;
    const body = html`<p>${totals ? badge('drift', `${totals} out of sync`) : badge('synced', 'no drift')} Exchange truth comes from the <code>api_snapshots</code> the ingestion side records (the web never calls the exchange). A snapshot older than ${DRIFT_SNAPSHOT_MAX_AGE_SECONDS / 60} min makes rows unverified. Prices match within 0.1 %.</p>
${filter}${d.accounts.length ? d.accounts.map((a) => accountCard(a, onlyDrift)) : html`<p class="empty">No accounts.</p>`}
<p class="muted small"><a href="/drift${qs({ account: accountId, only: onlyDrift ? 'drift' : undefined })}">Refresh</a></p>`;
    return renderPage(req, reply, { title: 'Accounts drift', active: 'drift', body });
  });
}
