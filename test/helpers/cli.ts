/**
 * Runs the real `fnrun` CLI (cli/fnrun.ts on this Node) as a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait-for.ts';

export const CLI = fileURLToPath(new URL('../../cli/fnrun.ts', import.meta.url));

/** Tests never take fnrun dev's fixed UI port (7400): the UI gets any free port unless a test says otherwise. */
const withFreeUiPort = (env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv => ({ FNRUN_UI_PORT: '0', ...(env ?? process.env) });

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `fnrun ...args` to completion. */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: withFreeUiPort(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A long-running CLI process whose output is collected line by line. */
export class CliProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  private readonly parsed: Record<string, unknown>[] = [];
  stderr = '';
  private exit: Promise<number | null>;

  constructor(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    this.child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: withFreeUiPort(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let buffer = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      for (const line of parts) {
        this.lines.push(line);
        // Parsed once, on arrival: tests poll json() often and outputs reach tens of thousands of lines.
        if (line.startsWith('{')) {
          try { this.parsed.push(JSON.parse(line) as Record<string, unknown>); } catch { /* not JSON after all */ }
        }
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    this.exit = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Parsed JSON lines (with --log json), skipping anything else. */
  json<T = Record<string, unknown>>(): T[] {
    return this.parsed as T[];
  }

  async waitForLine(predicate: (line: string) => boolean, message: string, timeoutMs = 30_000): Promise<string> {
    return waitFor(() => {
      if (this.child.exitCode !== null) throw new Error(`fnrun exited with ${this.child.exitCode}: ${this.stderr}`);
      return this.lines.find(predicate);
    }, { timeoutMs, message: `${message}\n--- stdout:\n${this.lines.slice(-20).join('\n')}\n--- stderr:\n${this.stderr}` });
  }

  /** Sends `signal` and resolves with the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exit;
  }
}
