/**
 * Box health of the host running `web`: CPU, RAM, disk and uptime, read from /proc and statfs.
 * Any value that cannot be read (another OS, a container without /proc) is null, never guessed.
 * CPU % is measured from /proc/stat between two calls (the first call falls back to load1 ÷ cores).
 */
import fs from 'node:fs';
import os from 'node:os';

export interface BoxHealth {
  hostname: string;
  cpu: { percent: number | null; load1: number | null; cores: number | null; source: 'proc-stat' | 'loadavg' | null };
  ram: { usedMb: number | null; totalMb: number | null; percent: number | null };
  disk: { path: string; usedGb: number | null; totalGb: number | null; percent: number | null };
  uptimeSeconds: number | null;
}

let lastStat: { idle: number; total: number } | null = null;

function readProcStat(): { idle: number; total: number } | null {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const nums = line.trim().split(/\s+/).slice(1).map(Number);
    if (nums.length < 4 || nums.some((n) => !Number.isFinite(n))) return null;
    const idle = (nums[3] ?? 0) + (nums[4] ?? 0); // idle + iowait
    const total = nums.reduce((a, b) => a + b, 0);
    return { idle, total };
  } catch {
    return null; // no /proc (not Linux): CPU falls back to load average
  }
}

function readMeminfo(): { totalKb: number; availableKb: number } | null {
  try {
    const text = fs.readFileSync('/proc/meminfo', 'utf8');
    const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1]);
    const totalKb = get('MemTotal');
    const availableKb = get('MemAvailable');
    return Number.isFinite(totalKb) && Number.isFinite(availableKb) ? { totalKb, availableKb } : null;
  } catch {
    return null; // no /proc/meminfo: RAM unknown
  }
}

function cores(): number | null {
  try {
    const n = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm) ?? []).length;
    if (n > 0) return n;
  } catch {
    // fall through to os.cpus()
  }
  const c = os.cpus().length;
  return c > 0 ? c : null;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

export async function readBoxHealth(hostname: string = os.hostname(), diskPath = '/'): Promise<BoxHealth> {
  const n = cores();
  const load1 = os.loadavg()[0] ?? null;
  let percent: number | null = null;
  let source: BoxHealth['cpu']['source'] = null;
  const stat = readProcStat();
  if (stat && lastStat && stat.total > lastStat.total) {
    percent = round1((1 - (stat.idle - lastStat.idle) / (stat.total - lastStat.total)) * 100);
    source = 'proc-stat';
  } else if (load1 !== null && n) {
    percent = round1(Math.min(100, (load1 / n) * 100));
    source = 'loadavg';
  }
  if (stat) lastStat = stat;

  const mem = readMeminfo();
  const ram = mem
    ? { usedMb: Math.round((mem.totalKb - mem.availableKb) / 1024), totalMb: Math.round(mem.totalKb / 1024), percent: round1(((mem.totalKb - mem.availableKb) / mem.totalKb) * 100) }
    : { usedMb: null, totalMb: null, percent: null };

  let disk: BoxHealth['disk'] = { path: diskPath, usedGb: null, totalGb: null, percent: null };
  try {
    const s = await fs.promises.statfs(diskPath);
    const total = s.blocks * s.bsize;
    const free = s.bavail * s.bsize;
    const used = total - s.bfree * s.bsize;
    disk = { path: diskPath, usedGb: round1(used / 1e9), totalGb: round1(total / 1e9), percent: total > 0 ? round1((used / (used + free)) * 100) : null };
  } catch {
    // statfs unsupported or path missing: disk stays unknown (null)
  }

  let uptimeSeconds: number | null = null;
  try {
    uptimeSeconds = Math.round(Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]));
  } catch {
    uptimeSeconds = Math.round(os.uptime());
  }

  return { hostname, cpu: { percent, load1: load1 === null ? null : round1(load1 * 100) / 100, cores: n, source }, ram, disk, uptimeSeconds };
}
