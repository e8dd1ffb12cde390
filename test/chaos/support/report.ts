/**
 * Figures of a chaos run. Each scenario file records its faults (injected, recovered, time to recover)
 * and its losses (frames and steps) into storage/chaos/parts/<scenario>.json; the suite's global teardown
 * (test/chaos/global-setup.ts) merges the parts into storage/chaos-report.json and prints the table.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../support/context.js';

export const REPORT_DIR = path.join(ROOT, 'storage', 'chaos');
export const PARTS_DIR = path.join(REPORT_DIR, 'parts');
export const REPORT_FILE = path.join(ROOT, 'storage', 'chaos-report.json');

export interface FaultRecord {
  kind: string;
  injected_at: string;
  /** ms from the fault (or from its end, for an outage) until the box was whole again; null = never */
  recover_ms: number | null;
}

export interface LossRecord {
  what: string;
  sent: number;
  arrived: number;
  lost: number;
  /** e.g. steps executed more than once */
  duplicated?: number;
  note?: string;
}

export interface ScenarioPart {
  scenario: string;
  started_at: string;
  duration_ms: number;
  database: string;
  faults: FaultRecord[];
  losses: LossRecord[];
  notes: string[];
}

export class ScenarioReport {
  private readonly t0 = Date.now();
  readonly faults: FaultRecord[] = [];
  readonly losses: LossRecord[] = [];
  readonly notes: string[] = [];

  constructor(
    readonly scenario: string,
    readonly database: string,
  ) {}

  fault(kind: string, injectedAt: number, recoverMs: number | null): void {
    this.faults.push({ kind, injected_at: new Date(injectedAt).toISOString(), recover_ms: recoverMs === null ? null : Math.round(recoverMs) });
  }

  loss(rec: LossRecord): void {
    this.losses.push(rec);
  }

  note(text: string): void {
    this.notes.push(text);
  }

  write(): void {
    fs.mkdirSync(PARTS_DIR, { recursive: true });
    const part: ScenarioPart = { scenario: this.scenario, started_at: new Date(this.t0).toISOString(), duration_ms: Date.now() - this.t0, database: this.database, faults: this.faults, losses: this.losses, notes: this.notes };
    fs.writeFileSync(path.join(PARTS_DIR, `${this.scenario}.json`), `${JSON.stringify(part, null, 2)}\n`);
  }
}

export function percentile(values: number[], p: number): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export interface SummaryRow {
  scenario: string;
  kind: string;
  injected: number;
  recovered: number;
  p50_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
}

export interface Summary {
  generated_at: string;
  wall_ms: number;
  database: string;
  totals: { faults_injected: number; faults_recovered: number; recover_p50_ms: number | null; recover_p99_ms: number | null; frames_lost: number; frames_in_flight_at_kill: number; steps_lost: number; steps_duplicated: number };
  rows: SummaryRow[];
  losses: Array<LossRecord & { scenario: string }>;
  scenarios: ScenarioPart[];
}

export function summarise(parts: ScenarioPart[], wallMs: number): Summary {
  const rows: SummaryRow[] = [];
  const all: number[] = [];
  let injected = 0;
  let recovered = 0;
  for (const part of parts) {
    const kinds = [...new Set(part.faults.map((f) => f.kind))];
    for (const kind of kinds) {
      const fs_ = part.faults.filter((f) => f.kind === kind);
      const times = fs_.map((f) => f.recover_ms).filter((v): v is number => v !== null);
      rows.push({ scenario: part.scenario, kind, injected: fs_.length, recovered: times.length, p50_ms: percentile(times, 50), p99_ms: percentile(times, 99), max_ms: times.length ? Math.max(...times) : null });
      injected += fs_.length;
      recovered += times.length;
      all.push(...times);
    }
  }
  const losses = parts.flatMap((p) => p.losses.map((l) => ({ scenario: p.scenario, ...l })));
  const sum = (pred: (l: LossRecord) => boolean, f: (l: LossRecord) => number) => losses.filter(pred).reduce((a, l) => a + f(l), 0);
  return {
    generated_at: new Date().toISOString(),
    wall_ms: wallMs,
    database: [...new Set(parts.map((p) => p.database))].join(', '),
    totals: {
      faults_injected: injected,
      faults_recovered: recovered,
      recover_p50_ms: percentile(all, 50),
      recover_p99_ms: percentile(all, 99),
      frames_lost: sum((l) => l.what.startsWith('frames'), (l) => l.lost),
      frames_in_flight_at_kill: sum((l) => l.what.startsWith('in flight'), (l) => l.sent),
      steps_lost: sum((l) => l.what.startsWith('steps'), (l) => l.lost),
      steps_duplicated: sum((l) => l.what.startsWith('steps'), (l) => l.duplicated ?? 0),
    },
    rows,
    losses,
    scenarios: parts,
  };
}

export function formatSummary(s: Summary): string {
  const ms = (v: number | null) => (v === null ? '–' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v} ms`);
  const head = ['scenario', 'fault', 'injected', 'recovered', 'p50', 'p99', 'max'];
  const body = s.rows.map((r) => [r.scenario, r.kind, String(r.injected), String(r.recovered), ms(r.p50_ms), ms(r.p99_ms), ms(r.max_ms)]);
  const lossHead = ['scenario', 'counted', 'sent', 'arrived', 'lost', 'duplicated'];
  const lossBody = s.losses.map((l) => [l.scenario, l.what, String(l.sent), String(l.arrived), String(l.lost), String(l.duplicated ?? 0)]);
  const table = (h: string[], rows: string[][]) => {
    const w = h.map((_, i) => Math.max(h[i]!.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
    return [line(h), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.map(line)].join('\n');
  };
  const t = s.totals;
  return [
    `Chaos run ${s.generated_at} on ${s.database}, ${(s.wall_ms / 1000).toFixed(0)} s`,
    table(head, body),
    '',
    table(lossHead, lossBody),
    '',
    `faults injected ${t.faults_injected}, recovered ${t.faults_recovered}; time to recover p50 ${ms(t.recover_p50_ms)}, p99 ${ms(t.recover_p99_ms)}; frames lost ${t.frames_lost} (in flight in a SIGKILLed stream daemon: ${t.frames_in_flight_at_kill}); steps lost ${t.steps_lost}, run twice ${t.steps_duplicated}`,
  ].join('\n');
}
