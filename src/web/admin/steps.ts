/**
 * Step browser: class × state pivot per set, filters (state, group, class, workflow), block view, the
 * parent/child tree, step detail, and for admins retry / cancel and dispatch pause / resume per set.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { dispatchPause, pauseDispatch, resumeDispatch } from '../../support/box-flags.js';
import { STEP_SETS, stepSetByName } from '../data/context.js';
import { Absent } from '../data/safe.js';
import { isStepState, STEP_STATES, type StepRow, type TreeNode } from '../data/steps.js';
import { html, qs, type SafeHtml } from '../html.js';
import type { WebServices } from '../services.js';
import { performStepAction, stepActionsFor } from '../step-actions.js';
import { badge, card, fmtAge, fmtDuration, fmtNum, fmtTime, pre, table } from '../views.js';
import { csrfField } from './layout.js';
import { back, intParam, renderPage, setFlash, strParam } from './page.js';

function setTabs(active: string): SafeHtml {
  return html`<nav class="tabs">${STEP_SETS.map((s) => html`<a href="/steps${qs({ set: s.name })}"${s.name === active ? html` aria-current="page" class="active"` : ''}>${s.name}</a>`)}</nav>`;
}

function stepLink(set: string, r: StepRow): SafeHtml {
  return html`<a href="/steps/${set}/${r.id}">#${r.id}</a>`;
}

function stepRows(set: string, rows: StepRow[]): SafeHtml {
  return table(
    ['Step', 'Class', 'State', 'Group', 'Idx', 'Queue', 'Retries', 'Duration', 'Updated', 'Error'],
    rows.map(
      (r) => html`<tr><td>${stepLink(set, r)}${r.childBlockUuid ? html` <span class="badge tone-info" title="parent">parent</span>` : ''}</td><td><code>${r.class ?? '—'}</code>${r.label ? html`<br><span class="muted small">${r.label}</span>` : ''}</td>
<td>${badge(r.shownState)}</td><td>${r.group ?? '—'}</td><td class="num">${r.index ?? '—'}</td><td>${r.queue ?? '—'}${r.priority === 'high' ? html` <span class="badge tone-warn">high</span>` : ''}</td>
<td class="num">${r.retries}</td><td class="num">${fmtDuration(r.durationMs)}</td><td>${fmtTime(r.updatedAt)}</td><td class="small">${(r.errorMessage ?? '').slice(0, 160)}</td></tr>`,
    ),
    { empty: 'No steps match.' },
  );
}

function absentBox(err: Absent): SafeHtml {
  return html`<p class="absent">${badge('not installed', 'no data yet')} ${err.message}. The step dispatcher creates these tables (steps:install).</p>`;
}

function renderTree(set: string, nodes: TreeNode[], focus: number): SafeHtml {
  if (!nodes.length) return html``;
  return html`<ul class="tree">${nodes.map(
    (n) => html`<li${n.step.id === focus ? html` class="focus"` : ''}>${stepLink(set, n.step)} <code>${n.step.class ?? '—'}</code> ${badge(n.step.shownState)} <span class="muted small">idx ${n.step.index ?? '—'} · ${fmtDuration(n.step.durationMs)}</span>${renderTree(set, n.children, focus)}</li>`,
  )}</ul>`;
}

export function registerSteps(app: FastifyInstance, s: WebServices): void {
  const setOf = (v: unknown) => stepSetByName(strParam(v) ?? 'default');

  app.get('/steps', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const set = setOf(q.set);
    if (!set) return reply.callNotFound();
    const f = { state: strParam(q.state, 20), group: strParam(q.group, 50), class: strParam(q.class, 255), workflow: strParam(q.workflow, 36), beforeId: intParam(q.before) ?? undefined };
    if (f.state && !isStepState(f.state)) f.state = undefined;
    const admin = req.user!.role === 'admin';
    const pause = await dispatchPause(s.redis, s.prefix, set.prefix);
    let content: SafeHtml;
    try {
      const pivot = await s.steps.pivot(set.prefix);
      const groups = await s.steps.groups(set.prefix);
      const list = await s.steps.list(set.prefix, f);
      const states = STEP_STATES.filter((st) => pivot.totals[st] || ['pending', 'running', 'failed', 'completed'].includes(st));
      const pivotTable = table(
        ['Class', ...states, 'Total', 'Max retries', 'Oldest running'],
        pivot.rows.map(
          (r) => html`<tr><th scope="row"><code title="${r.class}">${r.shortName}</code>${r.isParent ? html` <span class="badge tone-info">parent</span>` : ''}</th>
${states.map((st) => {
  const n = r.states[st] ?? 0;
  return html`<td class="num">${n ? html`<a href="/steps/blocks${qs({ set: set.name, class: r.class, state: st })}" class="cell tone-${st}">${fmtNum(n)}</a>` : html`<span class="muted">·</span>`}</td>`;
})}
<td class="num">${fmtNum(r.total)}</td><td class="num ${r.maxActiveRetries >= 10 ? 'bad' : r.maxActiveRetries >= 5 ? 'warn' : ''}">${r.maxActiveRetries}</td><td class="num ${(r.oldestRunningSeconds ?? 0) >= 600 ? 'bad' : (r.oldestRunningSeconds ?? 0) >= 120 ? 'warn' : ''}">${fmtAge(r.oldestRunningSeconds)}</td></tr>`,
        ),
        { empty: 'No steps in this set yet.', cls: 'pivot' },
      );
      const totals = html`<p class="muted">${fmtNum(pivot.total)} steps · ${states.map((st) => html`${st} ${fmtNum(pivot.totals[st] ?? 0)} · `)}</p>`;
      const filter = html`<form method="get" action="/steps" class="filters">
<input type="hidden" name="set" value="${set.name}">
<label>State <select name="state"><option value="">any</option>${STEP_STATES.map((st) => html`<option${st === f.state ? html` selected` : ''}>${st}</option>`)}</select></label>
<label>Group <select name="group"><option value="">any</option>${groups.map((g) => html`<option${g === f.group ? html` selected` : ''}>${g}</option>`)}</select></label>
<label>Class <input name="class" value="${f.class ?? ''}" list="classes"></label>
<datalist id="classes">${pivot.rows.map((r) => html`<option value="${r.class}">`)}</datalist>
<label>Workflow <input name="workflow" value="${f.workflow ?? ''}" size="36"></label>
<button type="submit">Filter</button> <a href="/steps${qs({ set: set.name })}">Reset</a>
</form>`;
      const more = list.length === 50 ? html`<p><a href="/steps${qs({ set: set.name, state: f.state, group: f.group, class: f.class, workflow: f.workflow, before: list[list.length - 1]!.id })}">Older →</a></p>` : '';
      content = html`${card('Class × state', html`${totals}${pivotTable}`)}${card('Steps', html`${filter}${stepRows(set.name, list)}${more}`)}`;
    } catch (err) {
      if (!(err instanceof Absent)) throw err;
      content = absentBox(err);
    }
    const pauseBox = html`<div class="toolbar">${pause ? html`${badge('paused')} Dispatch is paused for <strong>${set.name}</strong>${pause.prefix === null ? ' (all sets)' : ''}: ${pause.reason}, since ${fmtTime(pause.paused_at)}${pause.expires_in_seconds ? html`, for ${fmtAge(pause.expires_in_seconds)}` : ''}.` : html`${badge('running', 'dispatching')} Dispatch is not paused for <strong>${set.name}</strong>.`}
${admin ? (pause && pause.prefix !== null ? html`<form method="post" action="/steps/${set.name}/resume" class="inline">${csrfField(reply.generateCsrf())}<button type="submit">Resume dispatch</button></form>` : !pause ? html`<form method="post" action="/steps/${set.name}/pause" class="inline">${csrfField(reply.generateCsrf())}<label>for <select name="ttl"><option value="900">15 min</option><option value="3600" selected>1 h</option><option value="21600">6 h</option><option value="0">until resumed</option></select></label> <button type="submit" data-confirm="Pause dispatch for ${set.name}?">Pause dispatch</button></form>` : '') : ''}</div>`;
    return renderPage(req, reply, { title: `Steps · ${set.name}`, active: 'steps', body: html`${setTabs(set.name)}${pauseBox}${content}` });
  });

  app.get('/steps/blocks', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const set = setOf(q.set);
    const cls = strParam(q.class, 255);
    const state = strParam(q.state, 20);
    if (!set || !cls || !state || !isStepState(state)) return reply.code(400).send({ error: 'set, class and state are required' });
    let body: SafeHtml;
    try {
      const blocks = await s.steps.blocks(set.prefix, cls, state);
      body = table(
        ['Block', 'Steps in cell', 'Latest change'],
        blocks.map((b) => html`<tr><td><a href="/steps/${set.name}/block/${b.blockUuid}"><code>${b.blockUuid}</code></a></td><td class="num">${b.steps}</td><td>${fmtTime(b.latest)}</td></tr>`),
        { empty: 'No blocks.' },
      );
    } catch (err) {
      if (!(err instanceof Absent)) throw err;
      body = absentBox(err);
    }
    return renderPage(req, reply, { title: `Blocks · ${state}`, active: 'steps', body: html`${setTabs(set.name)}${card(`10 most recent blocks with ${state} ${cls}`, body)}` });
  });

  app.get('/steps/:set/block/:uuid', async (req, reply) => {
    const p = req.params as { set: string; uuid: string };
    const set = setOf(p.set);
    if (!set || !/^[A-Za-z0-9-]{1,64}$/.test(p.uuid)) return reply.callNotFound();
    let body: SafeHtml;
    try {
      body = stepRows(set.name, await s.steps.block(set.prefix, p.uuid));
    } catch (err) {
      if (!(err instanceof Absent)) throw err;
      body = absentBox(err);
    }
    return renderPage(req, reply, { title: 'Block', active: 'steps', body: html`${setTabs(set.name)}${card(`Block ${p.uuid}`, body, { hint: 'ordered by index: steps with the same index run in parallel' })}` });
  });

  app.get('/steps/:set/:id', async (req, reply) => {
    const p = req.params as { set: string; id: string };
    const set = setOf(p.set);
    const id = intParam(p.id);
    if (!set || !id) return reply.callNotFound();
    let body: SafeHtml;
    let status = 200;
    try {
      const st = await s.steps.detail(set.prefix, id);
      if (!st) {
        status = 404;
        body = html`<p class="empty">Step ${id} does not exist in the ${set.name} set, live or archived (steps:purge may have deleted it).</p>`;
      } else {
        const ancestors = st.archived ? [] : await s.steps.ancestors(set.prefix, st);
        const tree = st.archived ? { root: [], truncated: false } : await s.steps.tree(set.prefix, st);
        const admin = req.user!.role === 'admin';
        const csrf = reply.generateCsrf();
        const can = st.archived ? { retry: false, cancel: false } : stepActionsFor(st.state);
        // retry on a pending step only makes a delayed one due now: offered when it is delayed
        const delayed = !!st.dispatchAfter && st.dispatchAfter.getTime() > s.clock.now();
        const showRetry = can.retry && (st.state !== 'pending' || delayed);
        const retryLabel = st.state === 'pending' ? 'Run now' : st.state === 'dispatched' ? 'Requeue' : 'Retry';
        const hint =
          st.archived
            ? html`<p class="muted small">${badge('archived')} This step was archived with its settled tree (<code>steps_archive</code>); it can no longer change.</p>`
            : st.state === 'running'
              ? html`<p class="muted small">A running step belongs to its worker: it cannot be cancelled, and <code>steps:retry ${st.id} --force</code> requeues it only if that worker is gone (steps:recover-stale does so after its timeout).</p>`
              : '';
        const actions = admin
          ? html`<div class="toolbar">${showRetry ? html`<form method="post" action="/steps/${set.name}/${st.id}/retry" class="inline">${csrfField(csrf)}<button type="submit" data-confirm="${retryLabel} step ${st.id}?">${retryLabel}</button></form>` : ''}
${can.cancel ? html`<form method="post" action="/steps/${set.name}/${st.id}/cancel" class="inline">${csrfField(csrf)}<button type="submit" class="danger" data-confirm="Cancel step ${st.id}?">Cancel</button></form>` : ''}</div>${hint}`
          : html`<p class="muted small">Retry and cancel need the admin role.</p>${hint}`;
        const facts = html`<dl class="facts">
<dt>State</dt><dd>${badge(st.shownState)}${st.executionMode ? html` <span class="muted small">${st.executionMode}</span>` : ''}${st.archived ? html` ${badge('archived')}` : ''}</dd><dt>Class</dt><dd><code>${st.class ?? '—'}</code></dd><dt>Label</dt><dd>${st.label ?? '—'}</dd>
<dt>Type</dt><dd>${st.type}</dd><dt>Group</dt><dd>${st.group ?? '—'}</dd><dt>Queue</dt><dd>${st.queue ?? '—'}${st.priority ? ` (${st.priority})` : ''}</dd>
<dt>Block</dt><dd><a href="/steps/${set.name}/block/${st.blockUuid}"><code>${st.blockUuid}</code></a> index ${st.index ?? '—'}</dd>
<dt>Child block</dt><dd>${st.childBlockUuid ? html`<a href="/steps/${set.name}/block/${st.childBlockUuid}"><code>${st.childBlockUuid}</code></a>` : '—'}</dd>
<dt>Workflow</dt><dd>${st.workflowId ? html`<a href="/steps${qs({ set: set.name, workflow: st.workflowId })}"><code>${st.workflowId}</code></a>` : '—'}</dd>
<dt>Retries</dt><dd>${st.retries}${st.isThrottled ? ' (throttled now)' : ''}</dd><dt>Host</dt><dd>${st.hostname ?? '—'}</dd>
<dt>Created</dt><dd>${fmtTime(st.createdAt)}</dd><dt>Dispatch after</dt><dd>${fmtTime(st.dispatchAfter)}</dd><dt>Started</dt><dd>${fmtTime(st.startedAt)}</dd>
<dt>Completed</dt><dd>${fmtTime(st.completedAt)}</dd><dt>Duration</dt><dd>${fmtDuration(st.durationMs)}</dd><dt>Updated</dt><dd>${fmtTime(st.updatedAt)}</dd>
</dl>`;
        body = html`${actions}
<div class="grid two">${card(`Step #${st.id}`, facts)}${card('Tree', st.archived ? html`<p class="muted">The archived tree is in <code>${set.prefix}steps_archive</code> (block <code>${st.blockUuid}</code>).</p>` : html`${ancestors.length ? html`<p class="muted small">${ancestors.length} level(s) above; showing the whole tree from its root.</p>` : ''}${renderTree(set.name, tree.root, st.id)}${tree.truncated ? html`<p class="muted">Tree cut at 500 steps.</p>` : ''}`)}</div>
${card('Arguments', pre(st.arguments))}${card('Response', pre(st.response))}
${card('Error', html`${st.errorMessage ? pre(st.errorMessage, 'code error-text') : html`<p class="muted">No error.</p>`}${st.errorStackTrace ? html`<details><summary>Stack trace</summary>${pre(st.errorStackTrace)}</details>` : ''}`)}
${Object.keys(st.extra).length ? card('Other columns', pre(st.extra)) : ''}`;
      }
    } catch (err) {
      if (!(err instanceof Absent)) throw err;
      body = absentBox(err);
    }
    return renderPage(req, reply, { title: `Step ${id}`, active: 'steps', body: html`${setTabs(set.name)}${body}`, status });
  });

  const action = (kind: 'retry' | 'cancel') => async (req: FastifyRequest, reply: FastifyReply) => {
    const p = req.params as { set: string; id: string };
    const set = setOf(p.set);
    const id = intParam(p.id);
    if (!set || !id) return reply.code(404).send({ error: 'Unknown step' });
    try {
      await s.steps.tables(set.prefix);
    } catch (err) {
      if (err instanceof Absent) return reply.code(409).send({ error: err.message });
      throw err;
    }
    const r = await performStepAction(s, kind, set.prefix, id);
    await s.audit(req, `step.${kind}`, `${set.name}:${id}`, { ok: r.ok, from: r.from, to: r.to, revived: r.revived, message: r.message, previous_error: r.previousError?.slice(0, 500) ?? null });
    if (/application\/json/.test(String(req.headers.accept ?? ''))) return reply.code(r.ok ? 200 : 409).send(r);
    setFlash(req, r.ok ? 'ok' : 'error', r.message);
    return back(reply, `/steps/${set.name}/${id}`);
  };
  app.post('/steps/:set/:id/retry', { config: { adminOnly: true } }, action('retry'));
  app.post('/steps/:set/:id/cancel', { config: { adminOnly: true } }, action('cancel'));

  app.post('/steps/:set/pause', { config: { adminOnly: true } }, async (req, reply) => {
    const set = setOf((req.params as { set: string }).set);
    if (!set) return reply.code(404).send({ error: 'Unknown step set' });
    const ttl = intParam((req.body as Record<string, unknown>)?.ttl) ?? 0;
    const ttlSeconds = ttl > 0 ? Math.min(ttl, 7 * 86400) : null;
    const reason = `admin toggle (${set.name}) by ${req.user!.email}`;
    await pauseDispatch(s.redis, s.prefix, set.prefix, reason, ttlSeconds, new Date(s.clock.now()));
    await s.audit(req, 'dispatch.pause', set.name, { ttl_seconds: ttlSeconds });
    setFlash(req, 'ok', `Dispatch paused for ${set.name}${ttlSeconds ? ` for ${fmtAge(ttlSeconds)}` : ' until resumed'}.`);
    return back(reply, `/steps?set=${set.name}`);
  });

  app.post('/steps/:set/resume', { config: { adminOnly: true } }, async (req, reply) => {
    const set = setOf((req.params as { set: string }).set);
    if (!set) return reply.code(404).send({ error: 'Unknown step set' });
    await resumeDispatch(s.redis, s.prefix, set.prefix);
    await s.audit(req, 'dispatch.resume', set.name);
    setFlash(req, 'ok', `Dispatch resumed for ${set.name}.`);
    return back(reply, `/steps?set=${set.name}`);
  });
}
