/**
 * Publishes a process's invocation records on the namespace's feed channel, for `fnrun tail` and
 * the UI's Live page, off the hot path and at no cost while nobody listens:
 *
 * - every `checkMs` it asks Redis how many clients subscribe (`PUBSUB NUMSUB`, summed over a
 *   Cluster's nodes); at zero, {@link FeedPublisher.record} returns at once and keeps nothing;
 * - otherwise records are buffered (at most `maxBuffered`; the rest are counted as dropped) and
 *   sent every `flushMs` as one PUBLISH of a JSON batch.
 *
 * A listener that starts misses what happened before the next check (at most `checkMs`). The feed
 * is best-effort: a failed publish loses that batch, never an invocation.
 */
import type { InvocationRecord } from '../../loading/function-handle.ts';
import type { Keys } from '../../redis/keys.ts';
import { countSubscribers } from '../../redis/pubsub.ts';
import type { Redis } from '../../redis/redis.ts';
import { toFeedRecord, type FeedMessage } from './feed-record.ts';

export interface FeedPublisherOptions {
  /** @defaultValue 150 */
  flushMs?: number;
  /** @defaultValue 1000 */
  checkMs?: number;
  /** @defaultValue 2000 records */
  maxBuffered?: number;
}

export class FeedPublisher {
  readonly #redis: Redis;
  readonly #channel: string;
  readonly #source: string;
  readonly #flushMs: number;
  readonly #checkMs: number;
  readonly #maxBuffered: number;
  #listening = false;
  #buffer: { record: InvocationRecord; time: number }[] = [];
  #dropped = 0;
  #checkTimer: NodeJS.Timeout | null = null;
  #flushTimer: NodeJS.Timeout | null = null;
  #checking = false;
  #publishing: Promise<void> | null = null;
  #stopped = false;

  constructor(redis: Redis, keys: Keys, source: string, opts: FeedPublisherOptions = {}) {
    this.#redis = redis;
    this.#channel = keys.invocationFeed;
    this.#source = source;
    this.#flushMs = opts.flushMs ?? 150;
    this.#checkMs = opts.checkMs ?? 1000;
    this.#maxBuffered = opts.maxBuffered ?? 2000;
  }

  /** The `onInvocation` hook: one boolean test while nobody listens, one array push otherwise. */
  readonly record = (record: InvocationRecord): void => {
    if (!this.#listening) return;
    if (this.#buffer.length >= this.#maxBuffered) {
      this.#dropped++;
      return;
    }
    this.#buffer.push({ record, time: Date.now() });
  };

  /** True while some client subscribes (as of the last check). */
  get listening(): boolean {
    return this.#listening;
  }

  start(): void {
    if (this.#checkTimer !== null || this.#stopped) return;
    void this.#check();
    this.#checkTimer = setInterval(() => void this.#check(), this.#checkMs);
    this.#flushTimer = setInterval(() => void this.#flush(), this.#flushMs);
    this.#checkTimer.unref();
    this.#flushTimer.unref();
  }

  /** Sends what is buffered and stops. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#checkTimer) clearInterval(this.#checkTimer);
    if (this.#flushTimer) clearInterval(this.#flushTimer);
    await this.#publishing;
    await this.#flush();
    this.#listening = false;
  }

  async #check(): Promise<void> {
    // While Redis is away commands queue up: one check at a time, not one per interval.
    if (this.#checking) return;
    this.#checking = true;
    try {
      this.#listening = (await countSubscribers(this.#redis, this.#channel)) > 0;
    } catch {
      this.#listening = false; // Redis unreachable: nobody can be listening through it
    } finally {
      this.#checking = false;
    }
    if (!this.#listening) this.#buffer = [];
  }

  #flush(): Promise<void> {
    if (this.#publishing !== null || (this.#buffer.length === 0 && this.#dropped === 0)) return this.#publishing ?? Promise.resolve();
    const batch = this.#buffer;
    this.#buffer = [];
    const message: FeedMessage = { source: this.#source, records: batch.map((b) => toFeedRecord(b.record, b.time, this.#source)), dropped: this.#dropped };
    this.#dropped = 0;
    this.#publishing = this.#redis.publish(this.#channel, JSON.stringify(message)).then(
      () => undefined,
      () => undefined, // best-effort (see the module comment): the batch is lost, the runtime is not disturbed
    ).finally(() => { this.#publishing = null; });
    return this.#publishing;
  }
}
