/**
 * Read a password for the user:* commands without it ever appearing in argv (ps, shell history):
 * from an interactive prompt with echo off (asked twice), or from the first line of stdin when piped.
 */
import { UserError } from '../../support/errors.js';

async function readStdin(stream: NodeJS.ReadableStream): Promise<string> {
  let data = '';
  for await (const chunk of stream) {
    data += chunk.toString();
    if (data.length > 10_000) break;
  }
  return data;
}

function promptHidden(question: string, input: NodeJS.ReadStream, output: NodeJS.WriteStream): Promise<string> {
  return new Promise((resolve, reject) => {
    output.write(question);
    let value = '';
    const wasRaw = input.isRaw;
    input.setRawMode?.(true);
    input.resume();
    input.setEncoding('utf8');
    const done = (err: Error | null) => {
      input.setRawMode?.(wasRaw ?? false);
      input.pause();
      input.off('data', onData);
      output.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done(null);
        if (ch === '\u0003') return done(new UserError('Cancelled.', 130));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    input.on('data', onData);
  });
}

export async function readPassword(opts: { confirm: boolean; input?: NodeJS.ReadStream; output?: NodeJS.WriteStream } = { confirm: true }): Promise<string> {
  const input = opts.input ?? process.stdin;
  const output = opts.output ?? process.stderr;
  if (!input.isTTY) {
    const text = await readStdin(input);
    const line = text.split(/\r?\n/, 1)[0] ?? '';
    if (!line) throw new UserError('No password on stdin. Pipe it in (e.g. `printf %s "$PW" | bin/artisan user:create …`) or run the command in a terminal.');
    return line;
  }
  const first = await promptHidden('Password: ', input, output);
  if (opts.confirm) {
    const second = await promptHidden('Repeat password: ', input, output);
    if (first !== second) throw new UserError('The two passwords differ.');
  }
  return first;
}
