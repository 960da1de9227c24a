/**
 * Peak resident memory of a scenario process and of every process it started (fnrun's sandbox
 * child, esbuild's service), from Linux's per-process high-water mark (`VmHWM` in
 * /proc/<pid>/status). Children die at teardown, so scenarios call {@link sampleRss} just before it;
 * child.ts also samples on a timer in case one dies earlier.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Highest VmHWM seen per pid, with a label (`main`, `sandbox`, or the command name). */
const peaks = new Map<number, { label: string; kb: number }>();

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null; // the process exited between listing and reading
  }
}

/** Pids whose ancestry leads to `root`, from the ppid field of every /proc/<pid>/stat. */
function descendants(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = read(`/proc/${name}/stat`);
    // The command name in parentheses may hold spaces: fields start after the last ')'.
    if (stat !== null) parentOf.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
  }
  const found: number[] = [];
  for (const pid of parentOf.keys()) {
    for (let p = parentOf.get(pid); p !== undefined && p > 1; p = parentOf.get(p)) {
      if (p === root) { found.push(pid); break; }
    }
  }
  return found;
}

function label(pid: number): string {
  if (pid === process.pid) return 'main';
  const cmdline = read(`/proc/${pid}/cmdline`) ?? '';
  if (cmdline.includes('sandbox/child/child.')) return 'sandbox';
  return (read(`/proc/${pid}/comm`) ?? '?').trim();
}

/** Records the current high-water mark of this process and its descendants. */
export function sampleRss(): void {
  if (process.platform !== 'linux') return;
  for (const pid of [process.pid, ...descendants(process.pid)]) {
    const kb = Number(/VmHWM:\s+(\d+)/.exec(read(`/proc/${pid}/status`) ?? '')?.[1] ?? NaN);
    if (!Number.isFinite(kb)) continue;
    const known = peaks.get(pid);
    if (known === undefined || kb > known.kb) peaks.set(pid, { label: known?.label ?? label(pid), kb });
  }
}

/**
 * Sum of the per-process peaks in MiB (an upper bound of the peak of the sum), and the parts by
 * label, e.g. `{ main: 80, sandbox: 60, esbuild: 12 }`.
 */
export function peakRss(): { totalMb: number; parts: Record<string, number> } {
  sampleRss();
  const parts: Record<string, number> = {};
  let total = 0;
  for (const { label, kb } of peaks.values()) {
    parts[label] = (parts[label] ?? 0) + kb / 1024;
    total += kb / 1024;
  }
  return { totalMb: total, parts };
}
