/**
 * CI runs the whole suite once per database (.ci/run sets ATHENA_TEST_PASS=first for the SQLite pass and
 * =repeat for PostgreSQL and MariaDB). Files whose subject does not depend on the database — the real
 * supervisord, the dev box, the Redis Cluster, the browser — use `describeOnce` and run in the first pass
 * only. Without the variable (a developer's `npm test`) everything runs.
 */
import { describe } from 'vitest';

export const repeatPass = process.env.ATHENA_TEST_PASS === 'repeat';

export const describeOnce: typeof describe = (repeatPass ? describe.skip : describe) as typeof describe;
