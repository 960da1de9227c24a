/**
 * Every time a handler ran (its `seen` log line), stored in columns of typed arrays: a 10-minute
 * run at 2,000 events/s logs millions of lines, and objects per line would cost the harness
 * hundreds of MiB and long GC pauses while it must keep reading the processes' pipes.
 */

/** One handling, as the checks' examples show it. */
export interface Handling {
  seq: number;
  /** Handler's clock when it logged (ms). */
  time: number;
  /** Index of the process (see {@link HandlingLog.addProcess}). */
  proc: number;
  /** Line number in that process's stdout: orders handlings of one process exactly. */
  line: number;
  partition: number;
  eventId: string;
  attempt: number;
}

class Column<A extends Int32Array | Float64Array> {
  data: A;
  private readonly make: (n: number) => A;
  constructor(make: (n: number) => A) {
    this.make = make;
    this.data = make(1024);
  }
  set(i: number, v: number): void {
    if (i >= this.data.length) {
      const bigger = this.make(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[i] = v;
  }
}

const ints = () => new Column((n) => new Int32Array(n));
const floats = () => new Column((n) => new Float64Array(n));

/** The handlings of one function, by key (indices into the columns, in arrival order). */
export class HandlingLog {
  readonly byKey = new Map<string, number[]>();
  private readonly seqs = ints();
  private readonly times = floats();
  private readonly procs = ints();
  private readonly lines = ints();
  private readonly partitions = ints();
  private readonly attempts = ints();
  private readonly idMs = floats();
  private readonly idSeq = ints();
  private readonly procNames: string[];
  private n = 0;

  constructor(procNames: string[]) {
    this.procNames = procNames;
  }

  get size(): number {
    return this.n;
  }

  add(key: string, h: Handling): void {
    const i = this.n++;
    this.seqs.set(i, h.seq);
    this.times.set(i, h.time);
    this.procs.set(i, h.proc);
    this.lines.set(i, h.line);
    this.partitions.set(i, h.partition);
    this.attempts.set(i, h.attempt);
    const dash = h.eventId.indexOf('-');
    this.idMs.set(i, Number(h.eventId.slice(0, dash)));
    this.idSeq.set(i, Number(h.eventId.slice(dash + 1)));
    let list = this.byKey.get(key);
    if (list === undefined) this.byKey.set(key, (list = []));
    list.push(i);
  }

  seq(i: number): number { return this.seqs.data[i]!; }
  time(i: number): number { return this.times.data[i]!; }
  attempt(i: number): number { return this.attempts.data[i]!; }

  /**
   * Handling `a` happened strictly before `b`: an earlier handler timestamp, or the same
   * millisecond in the same process and an earlier stdout line. Two handlings in the same
   * millisecond in different processes are not ordered (the harness cannot know which came first).
   */
  before(a: number, b: number): boolean {
    const ta = this.times.data[a]!;
    const tb = this.times.data[b]!;
    return ta < tb || (ta === tb && this.procs.data[a] === this.procs.data[b] && this.lines.data[a]! < this.lines.data[b]!);
  }

  /** Arrival order within a process, by time otherwise (for listing one event's handlings). */
  compare(a: number, b: number): number {
    return this.times.data[a]! - this.times.data[b]! || (this.procs.data[a] === this.procs.data[b] ? this.lines.data[a]! - this.lines.data[b]! : 0);
  }

  procName(i: number): string {
    return this.procNames[this.procs.data[i]!] ?? '?';
  }

  get(i: number): Handling {
    return {
      seq: this.seq(i), time: this.time(i), proc: this.procs.data[i]!, line: this.lines.data[i]!,
      partition: this.partitions.data[i]!, eventId: `${this.idMs.data[i]}-${this.idSeq.data[i]}`, attempt: this.attempt(i),
    };
  }

  /** Seqs handled at least once, per key. */
  seqsOf(key: string): Set<number> {
    return new Set((this.byKey.get(key) ?? []).map((i) => this.seq(i)));
  }
}
