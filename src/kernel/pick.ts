/** Choosing a task by name for schedule:test: exact id first, then a unique case-insensitive part of it. */
import readline from 'node:readline/promises';
import { UserError } from '../support/errors.js';
import type { Task } from './task.js';

export function pickTask(tasks: Task[], name: string): Task {
  const exact = tasks.find((t) => t.id === name);
  if (exact) return exact;
  const needle = name.toLowerCase();
  const matches = tasks.filter((t) => t.id.toLowerCase().includes(needle) || (t.descriptionText ?? '').toLowerCase().includes(needle));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new UserError(`No scheduled task matches "${name}". Tasks: ${tasks.map((t) => t.id).join(', ') || '(none)'}`);
  throw new UserError(`"${name}" matches ${matches.length} tasks; be more precise: ${matches.map((t) => t.id).join(', ')}`);
}

/** Ask on the terminal which task to run (a number from the list). */
export async function askForTask(tasks: Task[]): Promise<string> {
  if (tasks.length === 0) throw new UserError('No scheduled tasks are registered on this box.');
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    tasks.forEach((t, i) => process.stdout.write(`  [${i + 1}] ${t.id}\n`));
    const answer = (await rl.question('Which task do you want to run? ')).trim();
    const n = Number(answer);
    if (Number.isInteger(n) && n >= 1 && n <= tasks.length) return tasks[n - 1]!.id;
    return answer;
  } finally {
    rl.close();
  }
}
