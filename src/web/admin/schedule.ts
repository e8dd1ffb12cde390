/**
 * Schedule: the registered tasks as `schedule:list --json` reports them ({tasks: [...]}: expression, next due,
 * flags, lock holder, last run), joined by task id with each task's runs and failures of the last 24 h from
 * `schedule_runs`; the run history with filters; and pause / resume through the kernel's own flag functions
 * (src/kernel/state.ts: the JSON {since, reason, host} that schedule:pause writes).
 */
import type { FastifyInstance } from 'fastify';
import type { ListedTask } from '../../kernel/list.js';
import { pauseSchedule, resumeSchedule } from '../../kernel/state.js';
import { errorMessage } from '../../support/errors.js';
import { readSchedulePause, readScheduleRuns, schedulerSection, type SchedulerView, type TaskSummary } from '../data/scheduler.js';
import { Absent, type Section } from '../data/safe.js';
import { html, qs, type SafeHtml } from '../html.js';
import type { WebServices } from '../services.js';
import { runCli } from '../cli.js';
import { badge, card, fmtDuration, fmtTime, pre, table } from '../views.js';
import { csrfField } from './layout.js';
import { back, intParam, renderPage, setFlash, strParam } from './page.js';

type ListResult = { ok: true; tasks: ListedTask[] } | { ok: false; message: string };

const LIST_CACHE_MS = 30_000;
const listCache = new WeakMap<WebServices, { at: number; value: Promise<ListResult> }>();

/** `schedule:list --json` (a child process: the schedule module is the kernel's, not the web's), cached 30 s. */
function scheduleList(s: WebServices): Promise<ListResult> | null {
  if (!s.hasCommand('schedule:list')) return null;
  const hit = listCache.get(s);
  if (hit && Date.now() - hit.at < LIST_CACHE_MS) return hit.value;
  const value = (async (): Promise<ListResult> => {
    const r = await runCli(s, ['schedule:list', '--json'], 20_000);
    if (r.exitCode !== 0) return { ok: false, message: (r.stderr || r.stdout).trim().slice(0, 500) || `schedule:list exited ${r.exitCode}` };
    try {
      const data = JSON.parse(r.stdout) as { tasks?: unknown };
      if (!Array.isArray(data.tasks)) return { ok: false, message: 'schedule:list --json printed no "tasks" array' };
      return { ok: true, tasks: data.tasks as ListedTask[] };
    } catch (err) {
      return { ok: false, message: `schedule:list --json did not print JSON (${errorMessage(err)})` };
    }
  })();
  listCache.set(s, { at: Date.now(), value });
  return value;
}

function flagsOf(t: ListedTask): string {
  const f: string[] = [];
  if (t.without_overlapping) f.push(`overlap ${t.without_overlapping}m`);
  if (t.on_one_server) f.push('one-server');
  if (t.run_in_background) f.push('background');
  if (t.even_in_maintenance_mode) f.push('maintenance');
  if (t.even_when_paused) f.push('when-paused');
  if (t.timezone && t.timezone !== 'UTC') f.push(`tz ${t.timezone}`);
  if (t.environments?.length) f.push(`env ${t.environments.join('|')}`);
  return f.join(', ') || '—';
}

function historyLink(taskId: string): SafeHtml {
  return html`<a href="/schedule${qs({ task: taskId })}">history</a>`;
}

function countsCell(sum: TaskSummary | undefined): SafeHtml {
  return sum ? html`<td class="num ${sum.failures24h ? 'bad' : ''}">${sum.failures24h} / ${sum.runs24h}</td>` : html`<td class="num muted">0 / 0</td>`;
}

function tasksTable(list: ListResult | null, sec: Section<SchedulerView>): SafeHtml {
  const summaries = new Map(sec.status === 'ok' ? sec.data.tasks.map((t) => [t.taskId, t]) : []);
  const history = sec.status === 'ok' ? '' : sec.status === 'absent' ? html`<p class="absent">${badge('not installed', 'no data yet')} ${sec.reason}.</p>` : html`<p class="error">${badge('error')} ${sec.message}</p>`;
  if (!list || !list.ok) {
    const why = list === null ? html`<p class="absent">${badge('not installed', 'no data yet')} The scheduler is not installed yet (no schedule:list command).</p>` : html`<p class="error">${badge('error')} ${list.message}</p>`;
    // Without the definitions, the history still says what ran.
    const rows = [...summaries.values()].map((t) => html`<tr><td><code>${t.taskId}</code></td><td>${badge(t.lastRun.status)} ${fmtTime(t.lastRun.started_at)}</td>${countsCell(t)}<td>${historyLink(t.taskId)}</td></tr>`);
    return html`${why}${history}${sec.status === 'ok' ? table(['Task (from the run history)', 'Last run', 'Failures / runs (24 h)', ''], rows, { empty: 'No task has run yet.' }) : ''}`;
  }
  const listed = new Set(list.tasks.map((t) => t.id));
  const rows = list.tasks.map((t) => {
    const sum = summaries.get(t.id);
    const last = sum?.lastRun ?? null;
    const lastCell = last
      ? html`${badge(last.status)}${last.skipped_reason ? html` <span class="muted small">${last.skipped_reason}</span>` : ''} ${fmtTime(last.started_at)}${last.duration_ms !== null ? html` <span class="muted small">${fmtDuration(last.duration_ms)}</span>` : ''}`
      : t.last_run
        ? html`${badge(t.last_run.status)} ${fmtTime(t.last_run.started_at)}`
        : html`<span class="muted">never</span>`;
    return html`<tr><td><code>${t.id}</code>${t.description ? html`<br><span class="muted small">${t.description}</span>` : ''}</td>
<td><code>${t.expression}</code>${t.repeat_seconds ? html` <span class="badge tone-info">every ${t.repeat_seconds} s</span>` : ''}</td>
<td>${t.next_due ? html`${fmtTime(t.next_due)} <span class="muted small">${t.next_due_human ?? ''}</span>` : html`<span class="muted">never</span>`}</td>
<td class="small">${flagsOf(t)}</td>
<td class="small">${t.lock_holder ? html`${badge('running', 'locked')} ${t.lock_holder.host}:${t.lock_holder.pid} since ${fmtTime(t.lock_holder.since)}` : '—'}</td>
<td>${lastCell}</td>${countsCell(sum)}<td>${historyLink(t.id)}</td></tr>`;
  });
  // Tasks that ran but are not registered now (removed, renamed, or only registered while not cooling down).
  for (const sum of summaries.values()) {
    if (listed.has(sum.taskId)) continue;
    rows.push(
      html`<tr class="muted"><td><code>${sum.taskId}</code><br><span class="small">not registered on this box now</span></td><td>—</td><td>—</td><td>—</td><td>—</td><td>${badge(sum.lastRun.status)} ${fmtTime(sum.lastRun.started_at)}</td>${countsCell(sum)}<td>${historyLink(sum.taskId)}</td></tr>`,
    );
  }
  return html`${history}${table(['Task', 'Expression', 'Next due', 'Flags', 'Lock', 'Last run', 'Failures / runs (24 h)', ''], rows, {
    empty: 'No task is registered on this box (the schedule registers tasks only where SERVER_ROLE=ingestion, and none while frozen).',
  })}`;
}

export function registerSchedule(app: FastifyInstance, s: WebServices): void {
  app.get('/schedule', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const task = strParam(q.task, 191);
    const failedOnly = q.failed === '1';
    const beforeId = intParam(q.before) ?? undefined;
    const sec = await schedulerSection(s.data);
    const paused = sec.status === 'ok' ? sec.data.paused : await readSchedulePause(s.data);
    const admin = req.user!.role === 'admin';
    const csrf = reply.generateCsrf();
    const control = html`<div class="toolbar">${paused ? html`${badge('paused')} The schedule is paused${paused.reason ? html`: ${paused.reason}` : ''}${paused.since ? html` since ${fmtTime(paused.since)}` : ''}${paused.host ? html` (from ${paused.host})` : ''}.` : html`${badge('running', 'active')} The schedule is not paused.`}
${admin ? (paused ? html`<form method="post" action="/schedule/resume" class="inline">${csrfField(csrf)}<button type="submit">Resume schedule</button></form>` : html`<form method="post" action="/schedule/pause" class="inline">${csrfField(csrf)}<input name="reason" placeholder="reason" maxlength="200"> <button type="submit" data-confirm="Pause the whole schedule?">Pause schedule</button></form>`) : ''}</div>`;
    const heartbeat =
      sec.status === 'ok'
        ? sec.data.heartbeat
          ? html`<p class="muted">Last <code>schedule:run</code> on ${sec.data.heartbeat.host}: slot ${sec.data.heartbeat.lastSlot ?? '—'}, ${sec.data.heartbeat.tasksDue ?? 0} due, ${sec.data.heartbeat.tasksFailed ?? 0} failed.</p>`
          : html`<p>${badge('not running')} No scheduler heartbeat: <code>schedule:run</code> has not run in the last 3 minutes (crontab).</p>`
        : '';
    const listCall = scheduleList(s);
    const tasksCard = card('Tasks', html`${heartbeat}${tasksTable(listCall ? await listCall : null, sec)}`, { hint: 'schedule:list --json, with the run history of the last 24 h' });
    let history: SafeHtml;
    try {
      const runs = await readScheduleRuns(s.data, { task, failedOnly, beforeId, limit: 50 });
      const last = runs[runs.length - 1];
      history = html`<form method="get" action="/schedule" class="filters"><label>Task <input name="task" value="${task ?? ''}"></label><label><input type="checkbox" name="failed" value="1"${failedOnly ? html` checked` : ''}> failures only</label> <button type="submit">Filter</button></form>
${table(
  ['Task', 'Slot', 'Host', 'Started', 'Duration', 'Status', 'Exit', 'Output'],
  runs.map(
    (r) =>
      html`<tr><td><code>${r.task_id}</code>${r.command !== r.task_id ? html`<br><span class="muted small">${r.command}</span>` : ''}</td><td>${fmtTime(r.slot)}</td><td>${r.host}</td><td>${fmtTime(r.started_at)}</td><td class="num">${r.duration_ms === null ? '—' : fmtDuration(r.duration_ms)}</td><td>${badge(r.status)}${r.skipped_reason ? html` <span class="muted small">${r.skipped_reason}</span>` : ''}${r.background ? html` <span class="muted small">background</span>` : ''}</td><td class="num">${r.exit_code ?? '—'}</td><td>${r.output_tail ? html`<details><summary>tail</summary>${pre(r.output_tail)}</details>` : ''}</td></tr>`,
  ),
  { empty: 'No runs match.' },
)}${runs.length === 50 && last ? html`<p><a href="/schedule${qs({ task, failed: failedOnly ? '1' : undefined, before: last.id })}">Older →</a></p>` : ''}`;
    } catch (err) {
      if (!(err instanceof Absent)) throw err;
      history = html`<p class="absent">${badge('not installed', 'no data yet')} ${err.message}.</p>`;
    }
    return renderPage(req, reply, { title: 'Schedule', active: 'schedule', body: html`${control}${tasksCard}${card('Run history', history)}` });
  });

  app.post('/schedule/pause', { config: { adminOnly: true } }, async (req, reply) => {
    const reason = strParam((req.body as Record<string, unknown>)?.reason, 200) ?? 'paused from the admin UI';
    const state = { since: new Date(s.clock.now()).toISOString(), reason: `${reason} (by ${req.user!.email})`, host: s.config.hostname };
    await pauseSchedule(s.redis, s.prefix, state);
    await s.audit(req, 'schedule.pause', null, { reason });
    setFlash(req, 'ok', 'The schedule is paused on every box.');
    return back(reply, '/schedule');
  });

  app.post('/schedule/resume', { config: { adminOnly: true } }, async (req, reply) => {
    let was: Awaited<ReturnType<typeof resumeSchedule>>;
    try {
      was = await resumeSchedule(s.redis, s.prefix);
    } catch (err) {
      // GETDEL has removed the flag already; only its value (written by some other tool) was not JSON.
      if (!/invalid JSON/.test(errorMessage(err))) throw err;
      s.log.warn('the schedule pause flag held a value that is not JSON; it is removed', { err });
      was = { since: '', reason: null, host: '' };
    }
    await s.audit(req, 'schedule.resume', null, { was_paused: was !== null, since: was?.since || null, reason: was?.reason ?? null });
    setFlash(req, 'ok', was ? 'The schedule is running again.' : 'The schedule was not paused.');
    return back(reply, '/schedule');
  });
}
