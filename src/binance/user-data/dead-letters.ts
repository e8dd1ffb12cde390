/**
 * The user-data dead-letter store: when a frame cannot be enqueued (Redis down), it is appended as one
 * JSON line to a file under storage/logs/, and replayed into the queue, in order, once Redis is back.
 *
 * Files: `user-data-deadletter-<epoch ms, 13 digits>-<pid>.jsonl`, one per backlog episode of one process,
 * so the names sort chronologically. A process owns the files with its pid; files of dead processes are
 * "foreign" and are replayed by the next daemon or by `kraite:replay-dead-letters` (under a Redis lock).
 * Appends are synchronous (appendFileSync), so a line is either fully written or not at all from the
 * point of view of the single-threaded replayer, and the drained-check at EOF cannot race an append.
 * Progress is kept in `<file>.offset` after every batch, so a crash mid-replay repeats at most one batch
 * (the consumer's idempotency key absorbs that duplicate).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { UserDataFrameJob } from '../../queue/user-data.js';
import type { Clock } from '../../support/clock.js';
import type { Logger } from '../../support/log.js';

export interface DeadLetterLine {
  ts: string;
  account_id: number;
  error: string;
  job: UserDataFrameJob;
}

export const DEAD_LETTER_PATTERN = /^user-data-deadletter-(\d{13})-(\d+)\.jsonl$/;

const CHUNK = 1024 * 1024;

export interface ReplayOutcome {
  replayed: number;
  /** The file was fully replayed and removed. */
  drained: boolean;
  corrupt: number;
}

export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class DeadLetterStore {
  private own: string | null = null;

  constructor(
    readonly dir: string,
    private readonly clock: Clock,
    private readonly log: Logger,
    readonly pid: number = process.pid,
  ) {}

  /** Append one frame; throws when the disk refuses (the caller then reports the frame as lost). */
  append(job: UserDataFrameJob, error: string): string {
    if (!this.own) {
      fs.mkdirSync(this.dir, { recursive: true });
      this.own = path.join(this.dir, `user-data-deadletter-${String(this.clock.now()).padStart(13, '0')}-${this.pid}.jsonl`);
    }
    const line: DeadLetterLine = { ts: new Date(this.clock.now()).toISOString(), account_id: job.accountId, error, job };
    fs.appendFileSync(this.own, `${JSON.stringify(line)}\n`);
    return this.own;
  }

  ownFile(): string | null {
    return this.own;
  }

  /** Every dead-letter file in the folder, oldest episode first. */
  files(): string[] {
    if (!fs.existsSync(this.dir)) return [];
    return fs
      .readdirSync(this.dir)
      .filter((f) => DEAD_LETTER_PATTERN.test(f))
      .sort()
      .map((f) => path.join(this.dir, f));
  }

  /** Files whose writer is gone (and that are not ours): safe for anyone holding the replay lock. */
  orphanFiles(): string[] {
    return this.files().filter((f) => {
      const pid = Number(DEAD_LETTER_PATTERN.exec(path.basename(f))![2]);
      return f !== this.own && pid !== this.pid && !pidAlive(pid);
    });
  }

  /** Lines not yet replayed in every file of the folder (a cheap count for heartbeats and the CLI). */
  pendingLines(files = this.files()): number {
    let n = 0;
    for (const f of files) {
      const offset = readOffset(f);
      const fd = fs.openSync(f, 'r');
      try {
        const buf = Buffer.alloc(CHUNK);
        let pos = offset;
        for (;;) {
          const got = fs.readSync(fd, buf, 0, CHUNK, pos);
          if (got <= 0) break;
          for (let i = 0; i < got; i++) if (buf[i] === 10) n++;
          pos += got;
        }
      } finally {
        fs.closeSync(fd);
      }
    }
    return n;
  }

  /**
   * Replay one file in order through `add` (called with consecutive runs of lines; a run must be added
   * all-or-nothing). Stops at the first failed `add` (rethrown). At the end of an own file, the drained
   * check and `onDrained` run synchronously, so no append can slip in between.
   */
  async replay(file: string, add: (jobs: UserDataFrameJob[]) => Promise<void>, opts: { batch: number; runKey?: (job: UserDataFrameJob) => number; onDrained?: () => void }): Promise<ReplayOutcome> {
    let offset = readOffset(file);
    let replayed = 0;
    let corrupt = 0;
    for (;;) {
      const lines = readLines(file, offset);
      if (lines.length === 0) {
        const size = fs.statSync(file).size;
        const isOwn = file === this.own;
        if (size > offset && !isOwn) {
          // A torn last line from a process that died mid-write: keep it aside, never lose it silently.
          const rest = fs.readFileSync(file).subarray(offset);
          fs.appendFileSync(`${file}.corrupt`, rest);
          this.log.error('dead-letter file ends with a torn line; kept aside', { file, bytes: rest.length });
          corrupt++;
        } else if (size > offset) {
          return { replayed, drained: false, corrupt }; // our own append is mid-way (cannot happen with sync appends)
        }
        fs.rmSync(file, { force: true });
        fs.rmSync(`${file}.offset`, { force: true });
        if (isOwn) this.own = null;
        opts.onDrained?.();
        return { replayed, drained: true, corrupt };
      }
      let i = 0;
      while (i < lines.length) {
        // A run: up to `batch` consecutive frames with the same run key (the caller adds it in one MULTI).
        const run: UserDataFrameJob[] = [];
        let runBytes = 0;
        while (i < lines.length && run.length < opts.batch) {
          const { text, size } = lines[i]!;
          const parsed = parseLine(text);
          if (parsed && run.length > 0 && opts.runKey && opts.runKey(parsed.job) !== opts.runKey(run[0]!)) break;
          if (!parsed) {
            fs.appendFileSync(`${file}.corrupt`, `${text}\n`);
            this.log.error('corrupt dead-letter line kept aside', { file, bytes: size });
            corrupt++;
          } else {
            run.push(parsed.job);
          }
          runBytes += size;
          i++;
        }
        if (run.length) await add(run);
        offset += runBytes;
        replayed += run.length;
        fs.writeFileSync(`${file}.offset`, String(offset));
      }
    }
  }
}

function readOffset(file: string): number {
  try {
    const n = Number(fs.readFileSync(`${file}.offset`, 'utf8').trim());
    return Number.isFinite(n) && n > 0 ? n : 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0; // nothing replayed yet
    throw err;
  }
}

/** Complete lines from `offset` (up to ~1 MB), with their byte sizes including the newline. */
function readLines(file: string, offset: number): Array<{ text: string; size: number }> {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(CHUNK);
    const got = fs.readSync(fd, buf, 0, CHUNK, offset);
    const data = buf.subarray(0, Math.max(0, got));
    const lines: Array<{ text: string; size: number }> = [];
    let start = 0;
    for (let i = 0; i < data.length; i++) {
      if (data[i] !== 10) continue;
      lines.push({ text: data.subarray(start, i).toString('utf8'), size: i - start + 1 });
      start = i + 1;
    }
    if (lines.length === 0 && got === CHUNK) throw new Error(`a dead-letter line in ${file} is longer than ${CHUNK} bytes`);
    return lines;
  } finally {
    fs.closeSync(fd);
  }
}

function parseLine(text: string): DeadLetterLine | null {
  try {
    const v = JSON.parse(text) as DeadLetterLine;
    return v && typeof v === 'object' && v.job && typeof v.job.accountId === 'number' ? v : null;
  } catch {
    return null; // reported and kept aside by the caller
  }
}
