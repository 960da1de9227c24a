/**
 * A command run in a process group of its own, as a terminal or a service manager runs one: tests
 * signal the process or its whole group, and kill the group when they end. Also what /proc says
 * about processes (Linux), to find the sandbox child and prove that nothing outlives its parent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { waitFor } from './wait-for.ts';

export class GroupProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; shell?: boolean } = {}) {
    this.child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, shell: opts.shell ?? false, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let buffer = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      this.lines.push(...parts);
    });
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Parsed JSON lines of stdout, skipping anything else. */
  json<T = Record<string, unknown>>(): T[] {
    return this.lines.flatMap((l) => {
      if (!l.startsWith('{')) return [];
      try { return [JSON.parse(l) as T]; } catch { return []; }
    });
  }

  waitForLine(predicate: (line: string) => boolean, message: string, timeoutMs = 60_000): Promise<string> {
    return waitFor(() => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`exited (${this.child.exitCode ?? this.child.signalCode})`);
      return this.lines.find(predicate);
    }, { timeoutMs, message: `${message}\n--- stdout:\n${this.lines.slice(-30).join('\n')}\n--- stderr:\n${this.stderr.slice(-3000)}` });
  }

  /** Signals the whole process group (what Ctrl-C in a terminal, or `kill -- -PGID`, does). */
  signalGroup(signal: NodeJS.Signals): void {
    try { process.kill(-this.pid, signal); } catch { /* already gone */ }
  }

  /** Signals the process alone (what a container runtime does to its PID 1). */
  signal(signal: NodeJS.Signals): void {
    try { process.kill(this.pid, signal); } catch { /* already gone */ }
  }

  /** SIGKILLs whatever is left of the group; for `finally` blocks. */
  async kill(): Promise<void> {
    this.signalGroup('SIGKILL');
    await this.exited;
  }
}

/** The command line of a live process, or null. */
export function commandLine(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
  } catch {
    return null;
  }
}

/** The parent of a live process, or null. */
function parentOf(pid: number): number | null {
  try {
    // stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/** Live processes under `pid` (children, grandchildren, …). */
export function descendantsOf(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = parentOf(Number(entry));
    if (ppid !== null) parents.set(Number(entry), ppid);
  }
  const found: number[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const current = frontier.pop()!;
    for (const [child, parent] of parents) {
      if (parent === current) {
        found.push(child);
        frontier.push(child);
      }
    }
  }
  return found;
}

/** True while `pid` runs (a zombie counts as gone). */
export function isAlive(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The sandbox child among the processes under `pid`: its pid and command line. */
export async function sandboxChildOf(pid: number, timeoutMs = 30_000): Promise<{ pid: number; argv: string[] }> {
  return waitFor(() => {
    for (const child of descendantsOf(pid)) {
      const argv = commandLine(child);
      if (argv?.some((a) => /sandbox[/\\]child[/\\]child\.(ts|js)$/.test(a))) return { pid: child, argv };
    }
    return null;
  }, { timeoutMs, message: `the sandbox child of ${pid}` });
}
