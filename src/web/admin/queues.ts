/**
 * Queues, Horizon-like: masters, supervisors and processes (issue 6's state key), the workload per queue
 * (BullMQ counts, wait of the oldest job, throughput when metrics are recorded), Horizon's metric
 * snapshots, and failed jobs with retry / forget. Actions go through `queue:retry ID` / `queue:forget ID`
 * when the pool is installed; before that, failed BullMQ jobs are retried / removed with BullMQ's own API,
 * and a `failed_jobs` row can be forgotten (deleted).
 */
import type { FastifyInstance } from 'fastify';
import type { Job } from 'bullmq';
import { queuesSection, readFailedJobs } from '../data/queues.js';
import { forgetFailedJob } from '../../db/repositories/web-failed-jobs.js';
import { html } from '../html.js';
import type { WebServices } from '../services.js';
import { runCli } from '../cli.js';
import { badge, card, fmtAge, fmtNum, fmtTime, pre, sectionBody, table } from '../views.js';
import { csrfField } from './layout.js';
import { back, renderPage, setFlash } from './page.js';

export function registerQueues(app: FastifyInstance, s: WebServices): void {
  app.get('/queues', async (req, reply) => {
    const admin = req.user!.role === 'admin';
    const csrf = reply.generateCsrf();
    const sec = await queuesSection(s.data);
    const horizon = sectionBody(sec, (v) => {
      if (!v.horizon.length) return html`<p>${badge('not running')} No Horizon master has written its state (<code>${s.prefix}:horizon:master:&lt;host&gt;</code>).</p>`;
      return html`${v.horizon.map(
        (m) => html`<h3>${m.host} ${badge(m.status)} <span class="muted small">pid ${m.pid ?? '—'} · state ${fmtAge(m.ageSeconds)} old · since ${fmtTime(m.startedAt)}</span></h3>
${table(
  ['Supervisor', 'Queues', 'Balance', 'Min–max', 'Processes'],
  m.supervisors.map((sup) => html`<tr><td>${sup.name}</td><td>${sup.queues.join(', ')}</td><td>${sup.balance ?? '—'}</td><td>${sup.min ?? '—'}–${sup.max ?? '—'}</td>
<td>${sup.processes.map((p) => html`<span class="badge tone-${p.status === 'running' || p.status === 'working' || p.status === 'idle' ? 'ok' : 'warn'}" title="queue ${p.queue ?? '—'} · ${p.jobs ?? 0} jobs · ${p.rssMb ?? '—'} MB">pid ${p.pid ?? '?'} ${p.status ?? ''}</span> `)}</td></tr>`),
  { empty: 'No supervisors.' },
)}`,
      )}`;
    });
    const controls =
      admin && s.hasCommand('horizon:pause')
        ? html`<div class="toolbar"><form method="post" action="/queues/horizon/pause" class="inline">${csrfField(csrf)}<button type="submit">Pause Horizon</button></form> <form method="post" action="/queues/horizon/continue" class="inline">${csrfField(csrf)}<button type="submit">Continue Horizon</button></form></div>`
        : '';
    const workload = sectionBody(sec, (v) =>
      table(
        ['Queue', 'Waiting', 'Active', 'Delayed', 'Paused', 'Failed', 'Completed (kept)', 'Last min', 'Last hour', 'Failed/hour', 'Wait'],
        v.queues.map(
          (q) => html`<tr id="q-${q.name}"><td><code>${q.name}</code></td><td class="num">${fmtNum(q.waiting + q.prioritized)}</td><td class="num">${fmtNum(q.active)}</td><td class="num">${fmtNum(q.delayed)}</td><td>${q.paused ? badge('paused') : html`<span class="muted">no</span>`}</td>
<td class="num ${q.failed ? 'bad' : ''}">${fmtNum(q.failed)}</td><td class="num">${fmtNum(q.completed)}</td><td class="num">${q.completedLastMinute ?? html`<span class="muted">—</span>`}</td><td class="num">${q.completedLastHour ?? html`<span class="muted">—</span>`}</td><td class="num">${q.failedLastHour ?? html`<span class="muted">—</span>`}</td><td class="num">${fmtAge(q.oldestWaitSeconds)}</td></tr>`,
        ),
        { empty: 'No queues yet.' },
      ),
    );
    const metrics = sectionBody(sec, (v) =>
      v.horizonMetrics.length ? table(['Key', 'Value'], v.horizonMetrics.map((m) => html`<tr><td><code>${m.key}</code></td><td>${pre(m.value)}</td></tr>`)) : html`<p class="muted">No Horizon metric snapshots yet (<code>${s.prefix}:horizon:metrics:*</code>). Throughput above comes from BullMQ's own per-minute metrics when workers record them.</p>`,
    );
    let failedBody;
    try {
      const failed = await readFailedJobs(s.data, 50);
      const canRetry = failed.source === 'bullmq' || s.hasCommand('queue:retry');
      failedBody = html`<p class="muted small">Source: ${failed.source === 'failed_jobs' ? html`the <code>failed_jobs</code> table` : html`BullMQ failed sets (no <code>failed_jobs</code> table yet)`}.</p>${table(
        ['Failed at', 'Queue', 'Job', 'Exception', ''],
        failed.jobs.map(
          (j) => html`<tr><td>${fmtTime(j.failedAt)}</td><td><code>${j.queue}</code></td><td>${j.name} <span class="muted small">${j.id}</span></td><td><details><summary>${j.exception.split('\n')[0]!.slice(0, 140)}</summary>${pre(j.exception)}</details></td>
<td>${admin ? html`${canRetry ? html`<form method="post" action="/queues/failed/retry" class="inline">${csrfField(csrf)}<input type="hidden" name="source" value="${j.source}"><input type="hidden" name="queue" value="${j.queue}"><input type="hidden" name="id" value="${j.id}"><button type="submit">Retry</button></form>` : ''}
<form method="post" action="/queues/failed/forget" class="inline">${csrfField(csrf)}<input type="hidden" name="source" value="${j.source}"><input type="hidden" name="queue" value="${j.queue}"><input type="hidden" name="id" value="${j.id}"><button type="submit" class="danger" data-confirm="Forget this failed job?">Forget</button></form>` : ''}</td></tr>`,
        ),
        { empty: 'No failed jobs.' },
      )}`;
    } catch (err) {
      s.log.warn('failed jobs unreadable', { err });
      failedBody = html`<p class="error">${badge('error')} ${(err as Error).message}</p>`;
    }
    const body = html`${controls}${card('Horizon', horizon)}${card('Workload', workload)}${card('Failed jobs', failedBody)}${card('Metrics', metrics)}`;
    return renderPage(req, reply, { title: 'Queues', active: 'queues', body, noscriptRefresh: 15 });
  });

  const failedAction = (kind: 'retry' | 'forget') => async (req: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
    const b = (req.body ?? {}) as Record<string, string>;
    const id = String(b.id ?? '').slice(0, 200);
    const queue = String(b.queue ?? '').slice(0, 200);
    if (!id || !/^[\w:.@-]+$/.test(id)) return reply.code(400).send({ error: 'Bad job id' });
    let message: string;
    let ok = false;
    let via: string;
    const cmd = `queue:${kind}`;
    if (s.hasCommand(cmd)) {
      via = 'cli';
      const r = await runCli(s, [cmd, id]);
      ok = r.exitCode === 0;
      message = ok ? `${cmd} ${id} done.` : `${cmd} failed: ${(r.stderr || r.stdout).trim().slice(0, 300)}`;
    } else if (b.source === 'bullmq') {
      via = 'bullmq';
      const q = await s.queues.queue(queue);
      const job = (await q.getJob(id)) as Job | undefined;
      if (!job) message = `Job ${id} is no longer in ${queue}.`;
      else {
        if (kind === 'retry') await job.retry('failed');
        else await job.remove();
        ok = true;
        message = `Job ${id} ${kind === 'retry' ? 're-queued' : 'removed'}.`;
      }
    } else if (kind === 'forget') {
      via = 'sql';
      ok = await forgetFailedJob(s.db, id);
      message = ok ? `Failed job ${id} forgotten.` : `Failed job ${id} not found.`;
    } else {
      via = 'none';
      message = 'queue:retry is not installed yet; a failed_jobs row cannot be retried from here.';
    }
    await s.audit(req, `queue.${kind}`, `${queue}:${id}`, { ok, via, message });
    setFlash(req, ok ? 'ok' : 'error', message);
    return back(reply, '/queues');
  };
  app.post('/queues/failed/retry', { config: { adminOnly: true } }, failedAction('retry'));
  app.post('/queues/failed/forget', { config: { adminOnly: true } }, failedAction('forget'));

  for (const kind of ['pause', 'continue'] as const) {
    app.post(`/queues/horizon/${kind}`, { config: { adminOnly: true } }, async (req, reply) => {
      const cmd = `horizon:${kind}`;
      if (!s.hasCommand(cmd)) return reply.code(409).send({ error: `${cmd} is not installed yet.` });
      const r = await runCli(s, [cmd]);
      await s.audit(req, `horizon.${kind}`, null, { exit_code: r.exitCode });
      setFlash(req, r.exitCode === 0 ? 'ok' : 'error', r.exitCode === 0 ? `${cmd} sent.` : `${cmd} failed: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
      return back(reply, '/queues');
    });
  }
}
