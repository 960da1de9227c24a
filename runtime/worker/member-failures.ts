/**
 * The failure path of one member over one run: how many attempts each event had (in this run, or
 * in a crashed or handed-over one, from its {@link Prior}), whether a failed attempt is retried
 * after its backoff or given up on (dead-lettered or dropped), and the gates that give an event up
 * before any attempt (an emit loop, an expired event).
 */
import { deadLetterFields, type DeadLetterReason, type FailureRecord } from '../dead-letters/dead-letter-record.ts';
import type { WireEvent } from '../events/wire.ts';
import type { FunctionHandle } from '../loading/function-handle.ts';
import { decideRetry } from '../policy/retry-decision.ts';
import type { FetchRecord, InvocationResult, LogLine, SerializedError } from '../types.ts';
import type { Prior, RunContext, RunItem } from './run-context.ts';

/** A failed attempt, as the sandbox reported it. */
export type FailedAttempt = Extract<InvocationResult, { status: 'error' }>;

/**
 * How a failed attempt ended: `buried` (given up on, and settled), `retry` (recorded, its backoff
 * waited: run it again), or `stopped` (the worker stops, or its commit was fenced, meanwhile).
 */
export type FailureOutcome = 'buried' | 'retry' | 'stopped';

/** The failure records of member `name` over `items`, by item index; made once per member and run. */
export class MemberFailures {
  readonly #ctx: RunContext;
  readonly #name: string;
  readonly #items: readonly RunItem[];
  readonly #marks: boolean;
  readonly #settledOne: (index: number) => void;
  /** Made on an item's first failure in this run, from its prior record when it had one. */
  #records: Map<number, FailureRecord> | null = null;

  /** `marks`: the group has several members (each one's settling is marked); `settledOne(i)`: the member settled `items[i]`. */
  constructor(ctx: RunContext, name: string, items: readonly RunItem[], marks: boolean, settledOne: (index: number) => void) {
    this.#ctx = ctx;
    this.#name = name;
    this.#items = items;
    this.#marks = marks;
    this.#settledOne = settledOne;
  }

  /** Attempts `items[i]` had before the next one. */
  attemptsBefore(i: number): number {
    const known = this.#records?.get(i);
    if (known !== undefined) return known.attempts;
    const prior = this.#items[i]!.prior;
    if (prior === null) return 0;
    const stored = prior.records.get(this.#name);
    // A delivery that never reported back (a crash mid-invocation) counts as an attempt, unless it
    // was handed over unstarted by a graceful stop.
    const crashed = Math.max(0, prior.deliveries - 1 - (stored?.free ?? 0));
    return Math.max(stored?.attempts ?? 0, crashed);
  }

  /** True when `items[i]` must not run for `fn` now (see {@link gateOf}). */
  isGated(fn: FunctionHandle, i: number): boolean {
    return gateOf(fn, this.#items[i]!.entry, this.#ctx.now()) !== null;
  }

  /** Gives `items[i]` up before any attempt when a gate says so; true when it did. */
  buryIfGated(fn: FunctionHandle, i: number): boolean {
    const gate = gateOf(fn, this.#items[i]!.entry, this.#ctx.now());
    if (gate === null) return false;
    this.#bury(fn, i, gate.reason, { name: gate.name, message: gate.message, stack: '', kind: 'handler' }, this.attemptsBefore(i));
    return true;
  }

  /** Settles the failed attempt `r` of `items[i]`: gives it up, or makes the attempt durable and waits its backoff. */
  async failed(fn: FunctionHandle, i: number, r: FailedAttempt): Promise<FailureOutcome> {
    const ctx = this.#ctx;
    const entry = this.#items[i]!.entry;
    const attempt = this.attemptsBefore(i) + 1;
    const now = ctx.now();
    const decision = decideRetry({
      attempt, errorKind: r.error.kind, policy: fn.manifest.retry, deadLetter: fn.manifest.deadLetter,
      eventTime: eventTimeOf(entry), maxEventAgeMs: fn.manifest.maxEventAgeMs, now, random: ctx.random,
    });
    if (decision.action !== 'retry') {
      this.#bury(fn, i, decision.reason, r.error, attempt, { durationMs: r.durationMs, logs: r.logs, ...(r.fetches ? { fetches: r.fetches } : {}) });
      return 'buried';
    }
    const rec = this.#recordOf(i);
    rec.attempts = attempt;
    if (rec.firstFailureAt === 0) rec.firstFailureAt = now;
    rec.lastFailureAt = now;
    ctx.report(fn, ctx.partition, entry, { status: 'retry', attempt, durationMs: r.durationMs, error: r.error, retryInMs: decision.delayMs, logs: r.logs, ...(r.fetches ? { fetches: r.fetches } : {}) });
    // The attempt is durable before the wait: a crash loop on a poison event still ends in the DLQ.
    try {
      await ctx.commits.failed(fn, entry.id, JSON.stringify(rec));
    } catch {
      return 'stopped'; // fenced
    }
    return (await ctx.sleep(decision.delayMs)) ? 'retry' : 'stopped';
  }

  #recordOf(i: number): FailureRecord {
    let r = this.#records?.get(i);
    if (r === undefined) {
      const stored = this.#items[i]!.prior?.records.get(this.#name);
      r = { attempts: this.attemptsBefore(i), firstFailureAt: stored?.firstFailureAt ?? 0, lastFailureAt: stored?.lastFailureAt ?? 0 };
      if (stored?.free !== undefined) r.free = stored.free;
      (this.#records ??= new Map()).set(i, r);
    }
    return r;
  }

  /** Dead-letters (or, with `deadLetter` off, drops) `items[i]` for `fn`, reports it, and counts it settled. */
  #bury(fn: FunctionHandle, i: number, reason: DeadLetterReason, error: SerializedError, attempt: number, extra?: { durationMs: number; logs?: readonly LogLine[]; fetches?: readonly FetchRecord[] }): void {
    const ctx = this.#ctx;
    const now = ctx.now();
    const r = this.#recordOf(i);
    r.attempts = Math.max(r.attempts, attempt);
    if (r.firstFailureAt === 0) r.firstFailureAt = now;
    r.lastFailureAt = now;
    const entry = this.#items[i]!.entry;
    const keep = fn.manifest.deadLetter;
    ctx.commits.deadLettered(fn, entry.id, keep ? deadLetterFields(entry, ctx.partition, fn, reason, error, r, now) : null, this.#marks);
    ctx.report(fn, ctx.partition, entry, { status: keep ? 'dead-lettered' : 'dropped', attempt: r.attempts, durationMs: extra?.durationMs ?? 0, error, reason, ...(extra?.logs ? { logs: extra.logs } : {}), ...(extra?.fetches ? { fetches: extra.fetches } : {}) });
    this.#settledOne(i);
  }
}

/** Why an event must not run for `fn` at all, before any attempt. */
function gateOf(fn: FunctionHandle, e: WireEvent, now: number): { reason: DeadLetterReason; name: string; message: string } | null {
  if (e.hops >= fn.manifest.maxHops) {
    return { reason: 'loop', name: 'EmitLoop', message: `event was emitted ${e.hops} generations deep (maxHops ${fn.manifest.maxHops}): an emit loop?` };
  }
  const max = fn.manifest.maxEventAgeMs;
  if (max !== null && now - eventTimeOf(e) > max) return { reason: 'expired', name: 'EventExpired', message: `event is older than maxEventAgeMs (${max} ms)` };
  return null;
}

/** A replayed event's age counts from its replay (its new entry id), not from its first publish. */
function eventTimeOf(e: WireEvent): number {
  return e.target === null ? e.time : Math.max(e.time, Number(e.id.slice(0, e.id.indexOf('-'))));
}
