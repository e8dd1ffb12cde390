/**
 * The scheduler's own log sink: stderr, bound before any task output capture starts, so the scheduler's
 * structured lines are never mistaken for a task's output (see captureOutput in ./executors.ts).
 */
import type { LogSink } from '../support/log.js';

const rawStderrWrite = process.stderr.write.bind(process.stderr);

export const kernelLogSink: LogSink = { write: (line: string) => void rawStderrWrite(line) };
