/**
 * This host's vitals, read from /proc and statfs. Every probe is defensive: a value that cannot be read
 * becomes null instead of failing the report.
 */
import fs from 'node:fs';
import os from 'node:os';

export interface CpuStats {
  load1: number;
  cores: number;
  percent: number;
}
export interface RamStats {
  used_mb: number;
  total_mb: number;
  percent: number;
}
export interface DiskStats {
  used_gb: number;
  total_gb: number;
  free_percent: number;
  percent: number;
}

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

export function cpuStats(): CpuStats | null {
  const cores = os.cpus().length || 1;
  const load1 = os.loadavg()[0];
  if (load1 === undefined) return null;
  return { load1: round(load1, 2), cores, percent: round(Math.min((load1 / cores) * 100, 100)) };
}

export function ramStats(meminfo = '/proc/meminfo'): RamStats | null {
  try {
    const text = fs.readFileSync(meminfo, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1]);
    const total = kb('MemTotal');
    const available = kb('MemAvailable');
    if (!Number.isFinite(total) || !Number.isFinite(available) || total <= 0) return null;
    const used = total - available;
    return { used_mb: Math.round(used / 1024), total_mb: Math.round(total / 1024), percent: round((used / total) * 100) };
  } catch {
    // Not Linux, or /proc is unavailable: the vital is reported as unknown.
    return null;
  }
}

export function diskStats(path = '/'): DiskStats | null {
  try {
    const s = fs.statfsSync(path);
    const total = s.blocks * s.bsize;
    const free = s.bavail * s.bsize;
    if (total <= 0) return null;
    const used = total - free;
    return { used_gb: round(used / 1024 ** 3), total_gb: round(total / 1024 ** 3), free_percent: round((free / total) * 100), percent: round((used / total) * 100) };
  } catch {
    // statfs unsupported on this filesystem: unknown.
    return null;
  }
}

export function bootId(): string | null {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // Not Linux: no boot id.
    return null;
  }
}
