/**
 * One `fnrun start` process of the chaos run: its stdout parsed into handlings (`seen` lines),
 * warn/error lines counted by kind, its exit recorded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from '../helpers/cli.ts';
import type { Handling } from './handlings.ts';

export type HandlingSink = (fn: string, key: string, h: Handling) => void;

export class StartProcess {
  readonly slot: number;
  readonly inc: number;
  /** Index in the run's process history (what handlings name). */
  readonly index: number;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly startedAt = Date.now();
  member: string | null = null;
  paused = false;
  /** Warn/error lines (level ≥ 40) with the harness's arrival time, capped. */
  readonly problems: string[] = [];
  problemCount = 0;
  /** Warn/error messages (`msg`, numbers blanked) and how often each came. */
  readonly problemKinds = new Map<string, number>();
  /** The first line of each kind. */
  readonly problemExamples = new Map<string, string>();
  readonly tail: string[] = [];
  stderr = '';
  lineNo = 0;
  exit: { code: number | null; signal: string | null } | null = null;
  /** Set when the harness sent SIGKILL or SIGTERM: any other exit is a crash worth reporting. */
  exitExpected = false;
  readonly exited: Promise<void>;
  unparsable = 0;

  constructor(o: { slot: number; inc: number; index: number; args: string[]; sink: HandlingSink }) {
    this.slot = o.slot;
    this.inc = o.inc;
    this.index = o.index;
    // Its own process group, so the sandbox process it forks dies with it in the harness's cleanup.
    this.child = spawn(process.execPath, [CLI, ...o.args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.pid = this.child.pid!;
    let buffer = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      for (const line of parts) this.onLine(line, o.sink);
    });
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-20_000); });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => { this.exit = { code, signal }; resolve(); }));
  }

  get name(): string {
    return `proc ${this.slot}.${this.inc} (pid ${this.pid})`;
  }

  /** The name handlings and reports use. */
  get shortName(): string {
    return `proc ${this.slot}.${this.inc}`;
  }

  get alive(): boolean {
    return this.exit === null;
  }

  private onLine(line: string, sink: HandlingSink) {
    const n = ++this.lineNo;
    this.tail.push(line);
    if (this.tail.length > 40) this.tail.shift();
    if (!line.startsWith('{')) return;
    if (line.includes('"msg":"seen ')) {
      let o: { function: string; partition: number; eventId: string; attempt: number; time: number; msg: string };
      try {
        o = JSON.parse(line) as typeof o;
      } catch {
        this.unparsable++;
        return;
      }
      const [, key, seq] = o.msg.split(' ');
      sink(o.function, key!, { seq: Number(seq), time: o.time, proc: this.index, line: n, partition: o.partition, eventId: o.eventId, attempt: o.attempt });
      return;
    }
    if (this.member === null && line.includes('fnrun start: ready')) {
      this.member = (JSON.parse(line) as { member: string }).member;
    }
    if (/"level":(40|50|60)/.test(line)) {
      this.problemCount++;
      const msg = (/"msg":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line.slice(0, 80)).replace(/\d+(-\d+)?/g, 'N').slice(0, 100);
      this.problemKinds.set(msg, (this.problemKinds.get(msg) ?? 0) + 1);
      if (!this.problemExamples.has(msg)) this.problemExamples.set(msg, line.slice(0, 1500));
      if (this.problems.length < 2000) this.problems.push(`${new Date().toISOString()} ${line.slice(0, 600)}`);
    }
  }

  /** Signals the `fnrun start` process itself (its sandbox process notices a dead parent by itself). */
  signal(sig: NodeJS.Signals) {
    if (sig === 'SIGKILL' || sig === 'SIGTERM') this.exitExpected = true;
    if (this.alive) this.child.kill(sig);
  }

  /** Cleanup: SIGKILLs the whole process group (the CLI, its sandbox process, anything left). */
  killGroup() {
    this.exitExpected = true;
    try {
      process.kill(-this.pid, 'SIGCONT');
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  }
}
