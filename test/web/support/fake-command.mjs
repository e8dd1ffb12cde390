#!/usr/bin/env node
// Stand-in for bin/artisan in the runner tests: prints its arguments, then behaves as asked.
//   fake-command.mjs <id> fast        prints and exits 0
//   fake-command.mjs <id> fail        prints and exits 3
//   fake-command.mjs <id> slow        prints a line every 100 ms for 60 s
const [, , id, mode, ...rest] = process.argv;
process.stdout.write(`started ${id} ${JSON.stringify([mode, ...rest])}\n`);
if (mode === 'fast') process.exit(0);
if (mode === 'fail') {
  process.stderr.write('something went wrong\n');
  process.exit(3);
}
let n = 0;
const t = setInterval(() => {
  process.stdout.write(`tick ${++n}\n`);
  if (n > 600) {
    clearInterval(t);
    process.exit(0);
  }
}, 100);
