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

/**
 * Pids whose ancestry leads to `root`: each process's children are listed per thread in
 * /proc/<pid>/task/<tid>/children (a thread that forks is the child's parent). Not a scan of every
 * /proc/<pid>/stat: on a timer that opened hundreds of files a second in the measured process.
 */
function descendants(root: number): number[] {
  const found: number[] = [];
  const visit = (pid: number) => {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      return; // exited meanwhile
    }
    for (const tid of tasks) {
      for (const child of (read(`/proc/${pid}/task/${tid}/children`) ?? '').trim().split(' ')) {
        if (child === '') continue;
        found.push(Number(child));
        visit(Number(child));
      }
    }
  };
  visit(root);
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
