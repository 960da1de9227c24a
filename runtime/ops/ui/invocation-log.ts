/**
 * What the UI remembers of the invocations it saw: the latest ones (for the Live page on open) and,
 * per function, counts per second over the last minute, the last outcome and the last error (for
 * the Functions page). Fed by the process's own `onInvocation` (dev) or by the feed (start).
 */
import type { FeedRecord } from '../feed/feed-record.ts';

/** The invocation side of a function's row on the Functions page. */
export interface InvocationStats {
  /** Invocations per second, oldest first, one entry per second of the last {@link RATE_SECONDS}. */
  perSecond: number[];
  total: number;
  failures: number;
  lastStatus: FeedRecord['status'] | null;
  lastAt: number | null;
  lastError: { time: number; eventId: string; partition: number; key: string | null; attempt: number; error: NonNullable<FeedRecord['error']> } | null;
}

export const RATE_SECONDS = 60;

interface Tally {
  /** Count per second, indexed by (epoch second % RATE_SECONDS). */
  buckets: number[];
  /** The epoch second each bucket counts. */
  seconds: number[];
  total: number;
  failures: number;
  lastStatus: FeedRecord['status'] | null;
  lastAt: number | null;
  lastError: InvocationStats['lastError'];
}

export class InvocationLog {
  readonly #capacity: number;
  #recent: FeedRecord[] = [];
  readonly #tallies = new Map<string, Tally>();

  /** @param capacity records kept for the Live page. @defaultValue 500 */
  constructor(capacity = 500) {
    this.#capacity = capacity;
  }

  add(records: readonly FeedRecord[]): void {
    for (const r of records) this.#tally(r);
    this.#recent.push(...records);
    if (this.#recent.length > this.#capacity * 2) this.#recent = this.#recent.slice(-this.#capacity);
  }

  /** The latest records, oldest first. */
  recent(): FeedRecord[] {
    return this.#recent.slice(-this.#capacity);
  }

  /** Stats of `fn` as of `now`; null when none of its invocations was seen. */
  stats(fn: string, now: number): InvocationStats | null {
    const t = this.#tallies.get(fn);
    if (t === undefined) return null;
    const second = Math.floor(now / 1000);
    const perSecond: number[] = [];
    for (let s = second - RATE_SECONDS + 1; s <= second; s++) {
      const i = s % RATE_SECONDS;
      perSecond.push(t.seconds[i] === s ? t.buckets[i]! : 0);
    }
    return { perSecond, total: t.total, failures: t.failures, lastStatus: t.lastStatus, lastAt: t.lastAt, lastError: t.lastError };
  }

  #tally(r: FeedRecord): void {
    let t = this.#tallies.get(r.function);
    if (t === undefined) {
      t = { buckets: new Array<number>(RATE_SECONDS).fill(0), seconds: new Array<number>(RATE_SECONDS).fill(-1), total: 0, failures: 0, lastStatus: null, lastAt: null, lastError: null };
      this.#tallies.set(r.function, t);
    }
    const second = Math.floor(r.time / 1000);
    const i = second % RATE_SECONDS;
    if (t.seconds[i] !== second) {
      t.seconds[i] = second;
      t.buckets[i] = 0;
    }
    t.buckets[i]!++;
    t.total++;
    if (r.status !== 'ok') t.failures++;
    if (t.lastAt === null || r.time >= t.lastAt) {
      t.lastAt = r.time;
      t.lastStatus = r.status;
    }
    if (r.error) t.lastError = { time: r.time, eventId: r.eventId, partition: r.partition, key: r.key, attempt: r.attempt, error: r.error };
  }
}
