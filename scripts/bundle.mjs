#!/usr/bin/env node
// Bundle bin/artisan's start-up path (src/launcher/main.ts with the schedule:run fast entry) into one file,
// dist/kernel/artisan.bundle.js, so that a cron minute with nothing due loads one module instead of ~35.
// Heavy libraries stay external (imported lazily when needed), and so do the kernel's own lazy imports
// (./kernel.js: the part of the scheduler that only runs when a task may be due) which load from dist/.
// The bundle sits in dist/kernel/ so that relative imports and src/support/paths.ts resolve as in dist/.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const kernelDir = path.join(root, 'src', 'kernel') + path.sep;
const keepExternal = {
  name: 'keep-lazy-kernel-imports-external',
  setup(b) {
    // Lazy halves stay separate files: a dynamic import made by a src/kernel/ module (./kernel.js, the
    // schedule_runs repository…) is left as is and resolves from dist/kernel/, where the bundle lives.
    b.onResolve({ filter: /^\./ }, (args) => (args.kind === 'dynamic-import' && args.importer.startsWith(kernelDir) ? { path: args.path, external: true } : undefined));
  },
};

await build({
  entryPoints: [path.join(root, 'src', 'launcher', 'main.ts')],
  outfile: path.join(root, 'dist', 'kernel', 'artisan.bundle.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'bundle',
  external: ['@oclif/core', 'knex', 'ioredis', 'bullmq', 'cron-parser', 'pg', 'mysql2', 'better-sqlite3', 'execa', 'chalk', 'ws'],
  plugins: [keepExternal],
  // dotenv is CommonJS and require()s four built-ins. Hand it those from static imports (createRequire and the
  // CommonJS loader would cost 2-3 ms at start-up); anything else still goes through a real require().
  banner: {
    js: [
      "import * as __fs from 'node:fs'; import * as __os from 'node:os'; import * as __path from 'node:path'; import * as __url from 'node:url';",
      "import { createRequire as __createRequire } from 'node:module';",
      'const __builtins = { fs: __fs, os: __os, path: __path, url: __url };',
      "const require = (id) => __builtins[id.replace(/^node:/, '')]?.default ?? __createRequire(import.meta.url)(id);",
    ].join('\n'),
  },
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});
