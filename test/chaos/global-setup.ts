/**
 * Before the chaos run: clear the previous run's parts. After it: merge every scenario's figures into
 * storage/chaos-report.json and print the table (docs/chaos.md).
 */
import fs from 'node:fs';
import path from 'node:path';
import { formatSummary, PARTS_DIR, REPORT_FILE, summarise, type ScenarioPart } from './support/report.js';

export default function setup(): () => void {
  const t0 = Date.now();
  fs.rmSync(PARTS_DIR, { recursive: true, force: true });
  return () => {
    if (!fs.existsSync(PARTS_DIR)) return;
    const parts = fs
      .readdirSync(PARTS_DIR)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => JSON.parse(fs.readFileSync(path.join(PARTS_DIR, f), 'utf8')) as ScenarioPart);
    if (!parts.length) return;
    const summary = summarise(parts, Date.now() - t0);
    fs.writeFileSync(REPORT_FILE, `${JSON.stringify(summary, null, 2)}\n`);
    console.log(`\n${formatSummary(summary)}\nfigures written to ${path.relative(process.cwd(), REPORT_FILE)}\n`);
  };
}
