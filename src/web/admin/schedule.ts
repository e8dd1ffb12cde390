/**
 * Schedule: what `schedule:list --json` reports (when the scheduler is installed), each task's last run and
 * failures from `schedule_runs`, the run history, and pause / resume (through `schedule:pause` /
 * `schedule:resume` when they exist, else the contract key `<prefix>:schedule:paused`).
 */
import type { FastifyInstance } from 'fastify';
import { readSchedulePause, readScheduleRuns, schedulePausedKey, schedulerSection } from '../data/scheduler.js';
import { Absent } from '../data/safe.js';
import { html, qs, type SafeHtml } from '../html.js';
import type { WebServices } from '../services.js';
import { runCli } from '../cli.js';
import { badge, card, fmtTime, pre, sectionBody, table } from '../views.js';
import { csrfField } from './layout.js';
import { back, renderPage, setFlash, strParam } from './page.js';

let listCache: { at: number; value: { ok: true; data: unknown } | { ok: false; message: string } } | null = null;

async function scheduleList(s: WebServices): Promise<{ ok: true; data: unknown } | { ok: false; message: string } | null> {
  if (!s.hasCommand('schedule:list')) return null;
  if (listCache && Date.now() - listCache.at < 30_000) return listCache.value;
  const r = await runCli(s, ['schedule:list', '--json'], 20_000);
  let value: { ok: true; data: unknown } | { ok: false; message: string };
  try {
    value = r.exitCode === 0 ? { ok: true, data: JSON.parse(r.stdout) } : { ok: false, message: (r.stderr || r.stdout).trim().slice(0, 500) || `exit ${r.exitCode}` };
  } catch {
    value = { ok: false, message: 'schedule:list --json did not print JSON' };
  }
  listCache = { at: Date.now(), value };
  return value;
}

function listTable(data: unknown): SafeHtml {
  const rows = Array.isArray(data) ? data : data && typeof data === 'object' ? ((data as Record<string, unknown>).tasks ?? (data as Record<string, unknown>).schedule) : null;
  if (!Array.isArray(rows) || !rows.length || typeof rows[0] !== 'object') return pre(data);
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r as object)))].slice(0, 10);
  return table(
    keys,
    rows.map((r) => html`<tr>${keys.map((k) => {
      const v = (r as Record<string, unknown>)[k];
      return html`<td>${v === null || v === undefined ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v)}</td>`;
    })}</tr>`),
  );
}

export function registerSchedule(app: FastifyInstance, s: WebServices): void {
  app.get('/schedule', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const task = strParam(q.task, 191);
    const failedOnly = q.failed === '1';
    const before = strParam(q.before, 40);
    const beforeDate = before && !Number.isNaN(Date.parse(before)) ? new Date(before) : undefined;
    const sec = await schedulerSection(s.data);
    const paused = sec.status === 'ok' ? sec.data.paused : await readSchedulePause(s.data);
    const admin = req.user!.role === 'admin';
    const csrf = reply.generateCsrf();
    const control = html`<div class="toolbar">${paused ? html`${badge('paused')} The schedule is paused${paused.reason ? html`: ${paused.reason}` : ''}${paused.since ? html` since ${fmtTime(paused.since)}` : ''}.` : html`${badge('running', 'active')} The schedule is not paused.`}
${admin ? (paused ? html`<form method="post" action="/schedule/resume" class="inline">${csrfField(csrf)}<button type="submit">Resume schedule</button></form>` : html`<form method="post" action="/schedule/pause" class="inline">${csrfField(csrf)}<input name="reason" placeholder="reason" maxlength="200"> <button type="submit" data-confirm="Pause the whole schedule?">Pause schedule</button></form>`) : ''}</div>`;
    const list = await scheduleList(s);
    const listCard = card(
      'schedule:list',
      list === null ? html`<p class="absent">${badge('not installed', 'no data yet')} The scheduler is not installed yet (no schedule:list command).</p>` : list.ok ? listTable(list.data) : html`<p class="error">${badge('error')} ${list.message}</p>`,
    );
    const tasksCard = card(
      'Tasks',
      sectionBody(sec, (v) =>
        table(
          ['Task', 'Last outcome', 'Last start', 'Failures / runs (24 h)', ''],
          v.tasks.map((t) => html`<tr><td><code>${t.command || t.taskId}</code></td><td>${badge(t.lastRun.outcome)}</td><td>${fmtTime(t.lastRun.startedAt)}</td><td class="num ${t.failures24h ? 'bad' : ''}">${t.failures24h} / ${t.runs24h}</td><td><a href="/schedule${qs({ task: t.taskId })}">history</a></td></tr>`),
          { empty: 'No task has run yet.' },
        ),
      ),
    );
    let history: SafeHtml;
    try {
      const runs = await readScheduleRuns(s.data, { task, failedOnly, beforeStartedAt: beforeDate, limit: 50 });
      const last = runs[runs.length - 1];
      history = html`<form method="get" action="/schedule" class="filters"><label>Task <input name="task" value="${task ?? ''}"></label><label><input type="checkbox" name="failed" value="1"${failedOnly ? html` checked` : ''}> failures only</label> <button type="submit">Filter</button></form>
${table(
  ['Task', 'Slot', 'Host', 'Started', 'Finished', 'Outcome', 'Exit', 'Output'],
  runs.map((r) => html`<tr><td><code>${r.command || r.taskId}</code></td><td>${r.slot ?? '—'}</td><td>${r.host ?? '—'}</td><td>${fmtTime(r.startedAt)}</td><td>${fmtTime(r.finishedAt)}</td><td>${badge(r.outcome)}${r.skippedReason ? html` <span class="muted small">${r.skippedReason}</span>` : ''}</td><td class="num">${r.exitCode ?? '—'}</td><td>${r.outputTail ? html`<details><summary>tail</summary>${pre(r.outputTail)}</details>` : ''}</td></tr>`),
  { empty: 'No runs match.' },
)}${runs.length === 50 && last?.startedAt ? html`<p><a href="/schedule${qs({ task, failed: failedOnly ? '1' : undefined, before: last.startedAt.toISOString() })}">Older →</a></p>` : ''}`;
    } catch (err) {
      if (!(err instanceof Absent)) throw err;
      history = html`<p class="absent">${badge('not installed', 'no data yet')} ${err.message}.</p>`;
    }
    return renderPage(req, reply, { title: 'Schedule', active: 'schedule', body: html`${control}<div class="grid two">${listCard}${tasksCard}</div>${card('Run history', history)}` });
  });

  app.post('/schedule/pause', { config: { adminOnly: true } }, async (req, reply) => {
    const reason = strParam((req.body as Record<string, unknown>)?.reason, 200) ?? 'paused from the admin UI';
    let via = 'redis';
    if (s.hasCommand('schedule:pause')) {
      const r = await runCli(s, ['schedule:pause']);
      via = 'cli';
      if (r.exitCode !== 0) {
        setFlash(req, 'error', `schedule:pause failed: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
        return back(reply, '/schedule');
      }
    } else {
      await s.redis.set(schedulePausedKey(s.prefix), JSON.stringify({ reason: `${reason} (${req.user!.email})`, paused_at: new Date(s.clock.now()).toISOString(), by: req.user!.email }));
    }
    await s.audit(req, 'schedule.pause', null, { reason, via });
    setFlash(req, 'ok', 'The schedule is paused.');
    return back(reply, '/schedule');
  });

  app.post('/schedule/resume', { config: { adminOnly: true } }, async (req, reply) => {
    let via = 'redis';
    if (s.hasCommand('schedule:resume')) {
      const r = await runCli(s, ['schedule:resume']);
      via = 'cli';
      if (r.exitCode !== 0) {
        setFlash(req, 'error', `schedule:resume failed: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
        return back(reply, '/schedule');
      }
    } else {
      await s.redis.del(schedulePausedKey(s.prefix));
    }
    await s.audit(req, 'schedule.resume', null, { via });
    setFlash(req, 'ok', 'The schedule is resumed.');
    return back(reply, '/schedule');
  });
}
