/**
 * One call in progress on one isolate, as the watchdog sees it: a batch (`count` events) or a
 * boot (`count` 0: load or recreation). The owner settles it; the watchdog may kill it.
 */
import { recentRss } from './rss-sample.ts';
import type { SerializedError } from '../../types.ts';
import type { Culprit } from '../protocol.ts';
import type { IsolateInstance } from './isolate-instance.ts';

/** Why the watchdog disposed an isolate. */
export type KillReason = 'timeout' | 'memory';

/** The watchdog's view of one call on one isolate. */
export class Run {
  readonly fnId: string;
  readonly rid: number | null;
  readonly count: number;
  readonly timeoutMs: number;
  readonly memoryMb: number;
  readonly instance: IsolateInstance;
  /** Size of what came in (batch or bundle), so the process-memory guard allows for it. */
  readonly inputChars: number;
  readonly startedAt = Date.now();
  readonly rssAtStart = recentRss();
  /** Flushed results: comma-joined JSON chunks, `resultCount` results in all. */
  readonly chunks: string[] = [];
  resultCount = 0;
  resultChars = 0;
  killReason: KillReason | null = null;
  killMessage = '';
  killedAt = 0;
  settled = false;
  /** The isolate's call already returned; a kill must then settle the run itself. */
  callSettled = false;
  heapSampleAt = 0;
  readonly #onKilled: (run: Run) => void;

  constructor(
    o: { fnId: string; rid: number | null; count: number; timeoutMs: number; memoryMb: number; instance: IsolateInstance; inputChars: number },
    onKilled: (run: Run) => void,
  ) {
    this.fnId = o.fnId;
    this.rid = o.rid;
    this.count = o.count;
    this.timeoutMs = o.timeoutMs;
    this.memoryMb = o.memoryMb;
    this.instance = o.instance;
    this.inputChars = o.inputChars;
    this.#onKilled = onKilled;
  }

  /** Index of the event running now (from the shared progress buffer; 0 for a boot). */
  get eventIndex(): number {
    return this.count === 0 ? 0 : Math.max(0, this.instance.progress[0] as number);
  }

  /** False while a batch waits for an isolate thread (boots count as started). */
  get started(): boolean {
    return this.count === 0 || (this.instance.progress[0] as number) >= 0;
  }

  /** When the running event started: each event gets its own `timeoutMs`, not the batch as a whole. */
  get eventStartedAt(): number {
    return this.count === 0 ? this.startedAt : (this.instance.progress[1] as number);
  }

  addResults(n: number, json: string): void {
    if (n === 0) return;
    this.chunks.push(json);
    this.resultCount += n;
    this.resultChars += json.length;
  }

  /** Disposes the isolate: this stops it unless V8 is inside an uninterruptible builtin (then it is wedged). */
  kill(reason: KillReason, message: string): void {
    if (this.killReason !== null || this.settled) return;
    this.killReason = reason;
    this.killMessage = message;
    this.killedAt = Date.now();
    this.instance.dispose();
    if (this.callSettled) this.#onKilled(this);
  }

  /** Describes this run as the cause of a kill or of the process's death. */
  culprit(kind: SerializedError['kind'], message: string): Culprit {
    const at = this.killedAt || Date.now();
    return {
      fnId: this.fnId,
      rid: this.rid,
      index: Math.max(this.eventIndex, this.resultCount),
      kind,
      message,
      done: `[${this.chunks.join(',')}]`,
      durationMs: Math.max(0, at - this.eventStartedAt),
    };
  }
}
