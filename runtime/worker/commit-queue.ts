/**
 * The commits of one consumer group on one partition: settlements accumulate in an open batch
 * while the previous commit is in flight, and go in the next one ("group commit"), so commits
 * cost one round trip per batch under load and add no wait when idle. Commits are written one at
 * a time, in order: an event's effects are never committed before those of an event settled
 * before it. A batch is cut before it grows past a bound (whole events only, so each completion
 * stays atomic with its emits and state), so one commit never takes Redis or Lua too far.
 *
 * A write that fails for a transient reason (Redis down, a failover, TRYAGAIN during a slot
 * migration) is retried as the same commit (same id: the script ignores a commit it already
 * applied). A FENCED write ends the queue: another process owns the partition now, or Redis lost
 * one of this queue's earlier commits (each commit names the one before it), so what this worker
 * knows no longer matches the pending list, which the partition's next worker reads afresh.
 */
import type { Logger } from '../logger.ts';
import { isFenced } from '../redis/reply-errors.ts';
import { reconnectDelayMs } from '../policy/backoff.ts';
import { REDIS_REPLY_TIMEOUT_MS, replyWithin } from '../redis/reply-deadline.ts';
import { CommitBatch, type StateChange } from './commit-batch.ts';
import type { EncodedEmit } from './emits.ts';

/** Beyond these a batch is sealed and a new one started (Redis takes far more; these keep one call short). */
export const MAX_COMMIT_ARGS = 20_000;
export const MAX_COMMIT_CHARS = 8 * 1024 * 1024;

/** What the queue needs from its worker (seams: tests pass stubs). */
export interface CommitQueueDeps {
  /**
   * Writes one batch as commit `commitId`, the queue's next after `previous` ('' for its first);
   * rejects with FENCED when the lease moved or `previous` was lost.
   */
  write(batch: CommitBatch, commitId: string, previous: string): Promise<number | void>;
  /** A commit's acks found some of its events not pending (a lost read); `ids` are its acks, all recorded as settled (see commit.lua). */
  notPending?(ids: readonly string[]): void;
  /** Called once when a write was fenced, with the script's error. */
  fenced(error: Error): void;
  /** Unique per commit, also across processes and lease epochs. */
  nextCommitId(): string;
  sleep(ms: number): Promise<unknown>;
  logger: Logger;
  /** For log lines. */
  where: Record<string, unknown>;
  /** @defaultValue {@link REDIS_REPLY_TIMEOUT_MS} */
  replyTimeoutMs?: number;
}

/** A function settling events, as the queue records it. */
export interface Settler {
  readonly name: string;
  readonly version: string;
}

interface Pending {
  batch: CommitBatch;
  id: string;
  done: Promise<void>;
  resolve(): void;
  reject(e: Error): void;
}

export class CommitQueue {
  readonly #deps: CommitQueueDeps;
  #open: Pending;
  readonly #sealed: Pending[] = [];
  #writing: Promise<void> | null = null;
  #scheduled = false;
  #fenced: Error | null = null;
  /** The id of the last commit written ('' before the first). */
  #previous = '';

  constructor(deps: CommitQueueDeps) {
    this.#deps = deps;
    this.#open = this.#newPending();
  }

  /** True once a write was fenced: nothing more will be committed. */
  get fenced(): boolean {
    return this.#fenced !== null;
  }

  /** `fn` completed event `id`: its emits and state writes; `mark` while other members still have it. */
  completed(fn: Settler, id: string, emits: readonly EncodedEmit[], state: StateChange | null, mark: boolean): void {
    const b = this.#batchFor();
    const part = b.part(fn.name, fn.version);
    part.firstId ??= id;
    if (mark) part.marks.push(id);
    b.args += 1;
    for (const e of emits) {
      part.emits.push({ stream: e.stream, fields: e.fields });
      b.count(e.fields);
    }
    if (state !== null) {
      const existing = part.state.get(state.hash);
      if (existing === undefined) part.state.set(state.hash, { hash: state.hash, writes: new Map(state.writes), ttlMs: state.ttlMs });
      else for (const [name, json] of state.writes) existing.writes.set(name, json);
      for (const [name, json] of state.writes) b.count([name, json ?? '']);
    }
    this.#kick();
  }

  /** `fn` gave up on event `id`: `fields` go to its DLQ (none when it keeps no dead letters). */
  deadLettered(fn: Settler, id: string, fields: string[] | null, mark: boolean): void {
    const b = this.#batchFor();
    const part = b.part(fn.name, fn.version);
    if (fields !== null) {
      part.dead.push(fields);
      b.count(fields);
    }
    if (mark) part.marks.push(id);
    this.#kick();
  }

  /** Records a failed attempt; resolves once it is durable (retry only after that). */
  failed(fn: Settler, id: string, recordJson: string): Promise<void> {
    const b = this.#batchFor();
    b.part(fn.name, fn.version).failures.push([id, recordJson]);
    b.args += 2;
    const done = this.#open.done; // the batch it went into
    this.#kick();
    return done;
  }

  /**
   * Every member settled event `id`: acknowledge it. Never cuts a batch: the completion or dead
   * letter just recorded must share its commit with the ack, or a crash between the two commits
   * would run the event again and apply its emits twice.
   */
  acked(id: string): void {
    this.#open.batch.ack(id);
    this.#kick();
  }

  /** Entries read but never started (a graceful stop): their redelivery is not an attempt, for any of `members`. */
  released(members: readonly Settler[], ids: readonly string[]): void {
    if (ids.length === 0) return;
    const b = this.#batchFor();
    for (const m of members) for (const id of ids) b.part(m.name, m.version).released.push(id);
    b.args += ids.length * members.length;
    this.#kick();
  }

  /** Resolves once everything queued so far is committed (rejects if fenced). */
  flush(): Promise<void> {
    const last = this.#open;
    this.#kick();
    return last.done;
  }

  #batchFor(): CommitBatch {
    const b = this.#open.batch;
    if (b.args >= MAX_COMMIT_ARGS || b.chars >= MAX_COMMIT_CHARS) {
      this.#sealed.push(this.#open);
      this.#open = this.#newPending();
      return this.#open.batch;
    }
    return b;
  }

  #newPending(): Pending {
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const done = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
    done.catch(() => {}); // callers that care await it; a fenced queue is reported through deps.fenced
    return { batch: new CommitBatch(), id: '', done, resolve, reject };
  }

  #kick(): void {
    if (this.#fenced !== null) {
      this.#rejectAll();
      return;
    }
    if (this.#writing !== null || this.#scheduled) return;
    this.#scheduled = true;
    // Everything settled in this turn of the event loop goes in one commit.
    setImmediate(() => {
      this.#scheduled = false;
      if (this.#writing !== null) return;
      this.#writing = this.#writeAll().finally(() => {
        this.#writing = null;
        // Settled after the loop's last look, before this ran: its kick found a write in progress.
        if (this.#fenced === null && (this.#sealed.length > 0 || !this.#open.batch.isEmpty)) this.#kick();
      });
    });
  }

  async #writeAll(): Promise<void> {
    for (;;) {
      if (this.#sealed.length === 0) {
        if (this.#open.batch.isEmpty) {
          this.#open.resolve(); // nothing to write: whoever waits on it is done
          this.#open = this.#newPending();
          return;
        }
        this.#sealed.push(this.#open);
        this.#open = this.#newPending();
      }
      const next = this.#sealed[0]!;
      next.id ||= this.#deps.nextCommitId();
      if (!(await this.#writeOne(next))) return;
      this.#sealed.shift();
      next.resolve();
    }
  }

  /** Writes one batch until it lands; false when fenced. */
  async #writeOne(p: Pending): Promise<boolean> {
    for (let failures = 0; ; failures++) {
      try {
        // A write with no reply by the deadline is sent again (redis/reply-deadline.ts; seen after a
        // Redis restart under Sentinel: the worker's last commit never settled, nor its stop). Safe:
        // the script applies a commit id at most once and refuses a stale copy that lands after a
        // later commit (it no longer names the last applied one).
        const ms = this.#deps.replyTimeoutMs ?? REDIS_REPLY_TIMEOUT_MS;
        const recorded = await replyWithin(this.#deps.write(p.batch, p.id, this.#previous), 'a commit', ms);
        this.#previous = p.id;
        if (typeof recorded === 'number' && recorded > 0) this.#deps.notPending?.(p.batch.acks);
        return true;
      } catch (error) {
        if (isFenced(error)) {
          this.#fenced = error as Error;
          this.#rejectAll();
          this.#deps.fenced(error as Error);
          return false;
        }
        this.#deps.logger.error({ ...this.#deps.where, err: error, attempt: failures + 1 }, 'commit failed; retrying the same commit');
        await this.#deps.sleep(reconnectDelayMs(failures, 50, 5_000));
      }
    }
  }

  #rejectAll(): void {
    const error = this.#fenced ?? new Error('FENCED');
    for (const p of this.#sealed.splice(0)) p.reject(error);
    this.#open.reject(error);
    this.#open = this.#newPending();
  }
}
