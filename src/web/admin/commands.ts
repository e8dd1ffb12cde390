/**
 * Commands runner: the allow-listed CLI commands (../commands/allowlist.ts), a form generated from each
 * command's flags and args in the manifest, runs through execa with an argument array (../commands/runner.ts),
 * output streamed live over SSE, a timeout, a cancel button, one run per command at a time, and the history
 * of runs. Viewers may start read-only commands only. Every start and cancel is audited.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ManifestCommand } from '../../launcher/manifest.js';
import { getRun, listRuns } from '../../db/repositories/command-runs.js';
import { allowedCommands, canRun, findAllowed } from '../commands/allowlist.js';
import { ArgvError, buildArgv, type FormValues } from '../commands/argv.js';
import { RunConflict } from '../commands/runner.js';
import { html, type SafeHtml } from '../html.js';
import type { WebServices } from '../services.js';
import { openSse } from '../sse.js';
import { badge, card, fmtDuration, fmtTime, table } from '../views.js';
import { csrfField } from './layout.js';
import { back, intParam, renderPage, setFlash, strParam } from './page.js';

function summary(c: ManifestCommand): string {
  return (c.summary ?? c.description ?? '').split('\n')[0] ?? '';
}

function field(kind: 'flag' | 'arg', name: string, spec: { description?: string; summary?: string; required?: boolean; options?: string[]; default?: unknown; type?: string; multiple?: boolean; char?: string }, value: string | undefined): SafeHtml {
  const id = `${kind}-${name}`;
  const label = kind === 'flag' ? `--${name}` : `<${name}>`;
  const help = spec.summary ?? spec.description ?? '';
  const req = spec.required ? html` <span class="badge tone-warn">required</span>` : '';
  const dflt = spec.default !== undefined && spec.default !== null && spec.default !== false ? String(spec.default) : '';
  let input: SafeHtml;
  if (spec.type === 'boolean') input = html`<input type="checkbox" id="${id}" name="${kind}.${name}"${value === 'on' ? html` checked` : ''}>`;
  else if (spec.options?.length)
    input = html`<select id="${id}" name="${kind}.${name}"${spec.required ? html` required` : ''}><option value="">${spec.required ? 'choose…' : '(not set)'}</option>${spec.options.map((o) => html`<option${(value ?? dflt) === o ? html` selected` : ''}>${o}</option>`)}</select>`;
  else if (spec.multiple) input = html`<textarea id="${id}" name="${kind}.${name}" rows="2" placeholder="one value per line">${value ?? ''}</textarea>`;
  else input = html`<input type="text" id="${id}" name="${kind}.${name}" value="${value ?? ''}" placeholder="${dflt}"${spec.required ? html` required` : ''} autocomplete="off" spellcheck="false">`;
  return html`<div class="field"><label for="${id}"><code>${label}</code>${req}</label>${input}${help ? html`<span class="muted small">${help}</span>` : ''}</div>`;
}

function runRows(runs: Awaited<ReturnType<typeof listRuns>>): SafeHtml {
  return table(
    ['Run', 'Command', 'By', 'Status', 'Exit', 'Started', 'Duration'],
    runs.map(
      (r) => html`<tr><td><a href="/runs/${r.id}">#${r.id}</a></td><td><code>${r.command} ${r.args.join(' ')}</code></td><td>${r.actor}</td><td>${badge(r.status)}</td><td class="num">${r.exitCode ?? '—'}</td><td>${fmtTime(r.startedAt)}</td><td class="num">${fmtDuration(r.durationMs)}</td></tr>`,
    ),
    { empty: 'No runs yet.' },
  );
}

export function registerCommands(app: FastifyInstance, s: WebServices): void {
  const patterns = () => s.config.web.commandsAllow;

  app.get('/commands', async (req, reply) => {
    const role = req.user!.role;
    const cmds = allowedCommands(s.manifest(), patterns());
    const groups = new Map<string, typeof cmds>();
    for (const c of cmds) {
      const topic = c.command.id.includes(':') ? c.command.id.split(':')[0]! : '(root)';
      groups.set(topic, [...(groups.get(topic) ?? []), c]);
    }
    const list = [...groups.entries()].map(
      ([topic, items]) => html`<h3>${topic}</h3><ul class="cmd-list">${items.map(
        (c) => html`<li><a href="/commands/${c.command.id}"><code>${c.command.id}</code></a> ${c.readOnly ? html`<span class="badge tone-ok">read-only</span>` : html`<span class="badge tone-warn">writes</span>`}${!canRun(role, c) ? html` <span class="muted small">(admin only)</span>` : ''}<br><span class="muted small">${summary(c.command)}</span></li>`,
      )}</ul>`,
    );
    const runs = await listRuns(s.db, { limit: 20 });
    const body = html`<div class="grid two">${card('Allowed commands', cmds.length ? html`${list}` : html`<p class="empty">No command is allowed (WEB_COMMANDS_ALLOW, or the manifest is missing).</p>`, { hint: `allow-list: ${patterns().join(', ')}` })}
${card('Recent runs', html`${runRows(runs)}<p><a href="/runs">All runs →</a></p>`)}</div>`;
    return renderPage(req, reply, { title: 'Commands', active: 'commands', body });
  });

  const showForm = (req: FastifyRequest, reply: FastifyReply, id: string, values: FormValues, error: string | null, status = 200) => {
    const allowed = findAllowed(s.manifest(), patterns(), id);
    if (!allowed) return reply.callNotFound();
    const c = allowed.command;
    const mayRun = canRun(req.user!.role, allowed);
    const flags = Object.entries(c.flags).filter(([, f]) => !f.hidden);
    const args = Object.entries(c.args);
    const one = (k: string) => {
      const v = values[k];
      return Array.isArray(v) ? v.join('\n') : v;
    };
    const examples = (c.examples ?? []).map((e) => (typeof e === 'string' ? e : e.command).replace(/<%= config.bin %>/g, 'bin/artisan'));
    const body = html`<p><a href="/commands">← All commands</a></p>
${card(`bin/artisan ${c.id}`, html`<p>${c.description ?? summary(c)}</p>${allowed.readOnly ? html`<p>${badge('ok', 'read-only')} Viewers may run it.</p>` : html`<p>${badge('warning', 'writes')} Admin role only.</p>`}
${examples.length ? html`<details><summary>Examples</summary>${examples.map((e) => html`<pre class="code">${e}</pre>`)}</details>` : ''}
${error ? html`<div class="flash flash-error" role="alert">${error}</div>` : ''}
<form method="post" action="/commands/${c.id}" class="stack cmd-form">
${csrfField(reply.generateCsrf())}
${args.length ? html`<fieldset><legend>Arguments</legend>${args.map(([n, a]) => field('arg', n, a, one(`arg.${n}`)))}</fieldset>` : ''}
${flags.length ? html`<fieldset><legend>Flags</legend>${flags.map(([n, f]) => field('flag', n, f, one(`flag.${n}`)))}</fieldset>` : ''}
${mayRun ? html`<button type="submit" class="primary">Run</button> <span class="muted small">Timeout ${s.config.web.commandTimeoutSeconds} s · one run of ${c.id} at a time</span>` : html`<p class="muted">Your role (viewer) cannot run this command.</p>`}
</form>`)}`;
    return renderPage(req, reply, { title: c.id, active: 'commands', body, status });
  };

  app.get('/commands/:id', async (req, reply) => showForm(req, reply, (req.params as { id: string }).id, {}, null));

  const start = async (req: FastifyRequest, reply: FastifyReply, id: string, form: FormValues, api: boolean) => {
    const allowed = findAllowed(s.manifest(), patterns(), id);
    if (!allowed) {
      await s.audit(req, 'command.refused', id, { reason: 'not allow-listed' });
      return reply.code(403).send({ error: `${id} is not an allow-listed command.` });
    }
    if (!canRun(req.user!.role, allowed)) {
      await s.audit(req, 'command.refused', id, { reason: 'viewer, write command' });
      return reply.code(403).send({ error: `${id} changes state; the viewer role may run read-only commands only.` });
    }
    let built;
    try {
      built = buildArgv(allowed.command, form);
    } catch (err) {
      if (!(err instanceof ArgvError)) throw err;
      if (api) return reply.code(422).send({ error: err.message });
      return showForm(req, reply, id, form, err.message, 422);
    }
    let runId: number;
    try {
      runId = await s.runner.start(id, built, { userId: req.user!.id, email: req.user!.email });
    } catch (err) {
      if (!(err instanceof RunConflict)) throw err;
      if (api) return reply.code(409).send({ error: err.message, run_id: err.runningId });
      return showForm(req, reply, id, form, err.message, 409);
    }
    await s.audit(req, 'command.run', id, { run_id: runId, args: built.display });
    if (api) return reply.code(202).send({ run_id: runId, url: `/runs/${runId}` });
    return back(reply, `/runs/${runId}`);
  };

  app.post('/commands/:id', async (req, reply) => start(req, reply, (req.params as { id: string }).id, (req.body ?? {}) as FormValues, false));

  app.post('/api/commands/:id', async (req, reply) => {
    const b = (req.body ?? {}) as { flags?: Record<string, unknown>; args?: Record<string, unknown> };
    const form: FormValues = {};
    for (const [k, v] of Object.entries(b.flags ?? {})) form[`flag.${k}`] = v === true ? 'on' : v === false ? undefined : Array.isArray(v) ? v.map(String) : String(v);
    for (const [k, v] of Object.entries(b.args ?? {})) form[`arg.${k}`] = String(v);
    return start(req, reply, (req.params as { id: string }).id, form, true);
  });

  app.get('/runs', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const runs = await listRuns(s.db, { command: strParam(q.command, 100), beforeId: intParam(q.before) ?? undefined, limit: 50 });
    const more = runs.length === 50 ? html`<p><a href="/runs?before=${runs[runs.length - 1]!.id}">Older →</a></p>` : '';
    return renderPage(req, reply, { title: 'Command runs', active: 'commands', body: card('History', html`${runRows(runs)}${more}`) });
  });

  app.get('/runs/:runId', async (req, reply) => {
    const id = intParam((req.params as { runId: string }).runId);
    const run = id ? await getRun(s.db, id) : null;
    if (!run) return reply.callNotFound();
    const live = s.runner.get(run.id);
    const running = run.status === 'running' && !!live && !live.end;
    const output = live ? live.output : (run.output ?? '');
    const mayCancel = running && (req.user!.role === 'admin' || req.user!.id === run.userId);
    const body = html`<p><a href="/commands/${run.command}">← ${run.command}</a> · <a href="/runs">History</a></p>
${card(`Run #${run.id}`, html`<p><code>bin/artisan ${run.command} ${run.args.join(' ')}</code></p>
<p>Status <span data-run-status>${badge(running ? 'running' : run.status)}</span> · exit <span data-run-exit>${run.exitCode ?? '—'}</span> · duration <span data-run-duration>${fmtDuration(run.durationMs)}</span> · by ${run.actor} · started ${fmtTime(run.startedAt)}</p>
${mayCancel ? html`<form method="post" action="/runs/${run.id}/cancel" class="inline" data-run-cancel>${csrfField(reply.generateCsrf())}<button type="submit" class="danger">Cancel</button></form>` : ''}
${run.outputTruncated ? html`<p class="muted small">Output truncated to its last part.</p>` : ''}
<pre class="terminal" data-live-run="${running ? `/api/stream/runs/${run.id}` : ''}" data-run-id="${run.id}">${output}</pre>`)}`;
    return renderPage(req, reply, { title: `Run #${run.id}`, active: 'commands', body, noscriptRefresh: running ? 2 : undefined });
  });

  app.get('/api/runs/:runId', async (req, reply) => {
    const id = intParam((req.params as { runId: string }).runId);
    const run = id ? await getRun(s.db, id) : null;
    if (!run) return reply.code(404).send({ error: 'Unknown run' });
    const live = s.runner.get(run.id);
    return { ...run, output: live && !live.end ? live.output : run.output, live: !!live && !live.end };
  });

  app.post('/runs/:runId/cancel', async (req, reply) => {
    const id = intParam((req.params as { runId: string }).runId);
    const run = id ? await getRun(s.db, id) : null;
    if (!run) return reply.code(404).send({ error: 'Unknown run' });
    if (req.user!.role !== 'admin' && req.user!.id !== run.userId) return reply.code(403).send({ error: 'Only admins or the operator who started it may cancel a run.' });
    const ok = s.runner.cancel(run.id, req.user!.email);
    await s.audit(req, 'command.cancel', run.command, { run_id: run.id, ok });
    setFlash(req, ok ? 'ok' : 'info', ok ? `Run #${run.id} cancelled.` : `Run #${run.id} is not running here.`);
    return back(reply, `/runs/${run.id}`);
  });

  app.get('/api/stream/runs/:runId', async (req, reply) => {
    const id = intParam((req.params as { runId: string }).runId);
    const run = id ? await getRun(s.db, id) : null;
    if (!run) return reply.code(404).send({ error: 'Unknown run' });
    const sse = openSse(req, reply, s);
    const sub = s.runner.subscribe(run.id, (e) => {
      if (e.type === 'output') sse.send('output', JSON.stringify(e.data));
      else {
        sse.send('end', e);
        sse.close();
      }
    });
    if (!sub) {
      // finished before (or on another web process): send what SQL has, then end
      sse.send('reset', JSON.stringify(run.output ?? ''));
      sse.send('end', { type: 'end', status: run.status, exitCode: run.exitCode, durationMs: run.durationMs });
      sse.close();
      return;
    }
    sse.send('reset', JSON.stringify(sub.output));
    if (sub.end) {
      sse.send('end', sub.end);
      sse.close();
      return;
    }
    sse.onClose(sub.unsubscribe);
  });
}
