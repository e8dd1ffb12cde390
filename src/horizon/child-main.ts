/**
 * Entry of a horizon worker process: `child_process.fork(dist/horizon/child-main.js)` by a Supervisor, with
 * the ChildSpec as JSON in HORIZON_CHILD_SPEC. Talks to the supervisor over IPC (heartbeats up; pause,
 * continue and stop down). SIGTERM / SIGINT / a lost parent only set the stop flag: the jobs in hand finish.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Runtime } from '../runtime.js';
import { errorMessage } from '../support/errors.js';
import { fromRoot } from '../support/paths.js';
import { HorizonChild, type ChildMessage, type ChildSpec, type ParentMessage } from './child.js';

async function main(): Promise<number> {
  const raw = process.env.HORIZON_CHILD_SPEC;
  if (!raw) {
    process.stderr.write('horizon worker: HORIZON_CHILD_SPEC is not set (this process is started by `horizon`)\n');
    return 1;
  }
  const spec = JSON.parse(raw) as ChildSpec;
  const rt = new Runtime({ component: `horizon:${spec.name}` });
  try {
    for (const mod of rt.config.horizon.processorModules) {
      await import(pathToFileURL(path.isAbsolute(mod) ? mod : fromRoot(mod)).href);
    }
    const child = new HorizonChild(
      {
        config: rt.config,
        db: await rt.db(),
        redis: await rt.redis('daemon'),
        clock: rt.clock,
        log: rt.log,
        send: (m: ChildMessage) => {
          if (process.connected) process.send?.(m);
        },
      },
      spec,
    );
    process.on('message', (m: ParentMessage) => {
      if (m.t === 'pause') void child.pause();
      else if (m.t === 'continue') void child.resume();
      else if (m.t === 'stop') child.stop(m.reason ?? 'stop');
    });
    process.on('SIGTERM', () => child.stop('sigterm'));
    process.on('SIGINT', () => child.stop('sigint'));
    process.on('disconnect', () => child.stop('parent-gone'));
    const reason = await child.run();
    rt.log.info('horizon worker exiting', { reason, jobs: child.stats.jobs });
    return reason === 'lease-lost' ? 75 : 0;
  } finally {
    await rt.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`horizon worker failed: ${errorMessage(err)}\n${(err as Error)?.stack ?? ''}\n`);
    process.exit(1);
  },
);
