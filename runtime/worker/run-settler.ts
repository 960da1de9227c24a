/**
 * Settles one **run** — consecutive events of one key, in id order — for one consumer group: each
 * member function runs over the run's events (members in declared order for a `sequential` group,
 * side by side for a `parallel` one), in chains handed to the sandbox; each event is completed, or
 * retried after its backoff (holding back only this key), or given up on (dead-lettered or
 * dropped). An event is acknowledged once every member settled it.
 *
 * Everything it touches comes in through {@link RunContext}, so unit tests drive it with stubs.
 */
import { deadLetterFields, type DeadLetterReason, type FailureRecord } from '../dead-letters/dead-letter-record.ts';
import type { MalformedEntry, WireEvent } from '../events/wire.ts';
import type { FunctionHandle } from '../loading/function-handle.ts';
import { decideRetry } from '../policy/retry-decision.ts';
import type { Emit, FetchRecord, InvocationResult, LogLine, SerializedError } from '../types.ts';
import type { StateChange } from './commit-batch.ts';
import type { CommitQueue } from './commit-queue.ts';
import type { ConsumerGroup } from '../loading/group-plan.ts';
import type { ChainJob } from './dispatcher.ts';
import type { EncodedEmit } from './emits.ts';
import type { Report } from './reporter.ts';
import type { StateCache } from './state-cache.ts';

/** What a crashed or handed-over earlier run left of an event (pending entries only). */
export interface Prior {
  /** XPENDING's delivery count. */
  deliveries: number;
  /** Failure records per function. */
  records: Map<string, FailureRecord>;
  /** Members that completed it already. */
  done: Set<string>;
}

/** One event of a run. */
export interface RunItem {
  readonly entry: WireEvent;
  readonly prior: Prior | null;
  /** Set once it ran (or began to): a graceful stop hands over the others as never started. */
  started?: boolean;
}

/** The collaborators of a run (see the module comment). */
export interface RunContext {
  readonly partition: number;
  readonly group: ConsumerGroup;
  /** The newest loaded version of a function, if it is still loaded. */
  resolve(name: string): FunctionHandle | undefined;
  dispatch(fn: FunctionHandle, job: ChainJob): Promise<void>;
  readonly commits: CommitQueue;
  readonly state: StateCache;
  stateHash(fn: string, key: string): string;
  /** Functions seen using state: their runs get the key's state with the chain. */
  readonly usesState: Set<string>;
  encodeEmits(emits: readonly Emit[], hops: number, now: number): EncodedEmit[];
  idempotencyKey(fn: string, entry: WireEvent): string;
  eventJson(entry: WireEvent): string;
  /** Emits went to the outbox: relay them once committed. */
  relayOutbox(committed: Promise<void>): void;
  readonly report: Report;
  /** Resolves true after `ms`, or false at once when stopping. */
  sleep(ms: number): Promise<boolean>;
  stopping(): boolean;
  now(): number;
  random(): number;
  /** Most events in one chain. */
  readonly maxChain: number;
}

/** Settles `items` (one key's run); resolves with how many of them, from the first, every member settled. */
export async function settleRun(ctx: RunContext, items: readonly RunItem[]): Promise<number> {
  const members = ctx.group.members.map((m) => m.name);
  // A member just removed or being replaced: settle nothing now, its worker is about to stop.
  if (members.some((m) => ctx.resolve(m) === undefined)) return 0;
  const marks = members.length > 1;
  // Members each event still waits for: relevant to it and not done before a crash.
  const waiting = items.map((item) => members.filter((m) => isRelevant(ctx.resolve(m), item.entry) && !item.prior?.done.has(m)).length);
  const settledOne = (index: number) => {
    if (--waiting[index]! === 0) ctx.commits.acked(items[index]!.entry.id);
  };
  items.forEach((item, i) => { if (waiting[i] === 0) ctx.commits.acked(item.entry.id); });
  const mine = (name: string) => items.flatMap((item, i) => (isRelevant(ctx.resolve(name), item.entry) && !item.prior?.done.has(name) ? [i] : []));
  // The keys' state stays cached while their run is out (see state-cache.ts).
  const keys = new Set<string>();
  for (const item of items) if (item.entry.key !== null) keys.add(item.entry.key);
  const hashes = [...keys].flatMap((key) => members.map((m) => ctx.stateHash(m, key)));
  for (const h of hashes) ctx.state.hold(h);
  try {
    if (ctx.group.mode === 'parallel') {
      await Promise.all(members.map((name) => settleMember(ctx, name, items, mine(name), marks, settledOne)));
    } else {
      for (const name of members) {
        const indexes = mine(name);
        const reached = await settleMember(ctx, name, items, indexes, marks, settledOne);
        if (reached < indexes.length) break; // stopped: later members do not run ahead of it
      }
    }
  } finally {
    for (const h of hashes) ctx.state.release(h);
  }
  let settled = 0;
  while (settled < items.length && waiting[settled]! <= 0) settled++;
  return settled;
}

function isRelevant(fn: FunctionHandle | undefined, e: WireEvent): boolean {
  return fn !== undefined && fn.matches(e.type) && (e.target === null || e.target === fn.name);
}

/**
 * Runs member `name` over `items[indexes]`, in order; returns how many of those it settled before
 * it stopped (all of them unless the worker stops or the function goes away).
 */
async function settleMember(ctx: RunContext, name: string, items: readonly RunItem[], indexes: readonly number[], marks: boolean, settledOne: (index: number) => void): Promise<number> {
  const records = new Map<number, FailureRecord>();
  const attemptsBefore = (i: number): number => {
    const known = records.get(i);
    if (known !== undefined) return known.attempts;
    const prior = items[i]!.prior;
    if (prior === null) return 0;
    const stored = prior.records.get(name);
    // A delivery that never reported back (a crash mid-invocation) counts as an attempt, unless it
    // was handed over unstarted by a graceful stop.
    const crashed = Math.max(0, prior.deliveries - 1 - (stored?.free ?? 0));
    return Math.max(stored?.attempts ?? 0, crashed);
  };
  const recordOf = (i: number): FailureRecord => {
    let r = records.get(i);
    if (r === undefined) {
      const stored = items[i]!.prior?.records.get(name);
      r = { attempts: attemptsBefore(i), firstFailureAt: stored?.firstFailureAt ?? 0, lastFailureAt: stored?.lastFailureAt ?? 0 };
      if (stored?.free !== undefined) r.free = stored.free;
      records.set(i, r);
    }
    return r;
  };
  const bury = (fn: FunctionHandle, i: number, reason: DeadLetterReason, error: SerializedError, attempt: number, extra?: { durationMs: number; logs?: readonly LogLine[]; fetches?: readonly FetchRecord[] }) => {
    const now = ctx.now();
    const r = recordOf(i);
    r.attempts = Math.max(r.attempts, attempt);
    if (r.firstFailureAt === 0) r.firstFailureAt = now;
    r.lastFailureAt = now;
    const entry = items[i]!.entry;
    const keep = fn.manifest.deadLetter;
    ctx.commits.deadLettered(fn, entry.id, keep ? deadLetterFields(entry, ctx.partition, fn, reason, error, r, now) : null, marks);
    ctx.report(fn, ctx.partition, entry, { status: keep ? 'dead-lettered' : 'dropped', attempt: r.attempts, durationMs: extra?.durationMs ?? 0, error, reason, ...(extra?.logs ? { logs: extra.logs } : {}), ...(extra?.fetches ? { fetches: extra.fetches } : {}) });
    settledOne(i);
  };

  let k = 0;
  let exclusive = false;
  while (k < indexes.length) {
    if (ctx.stopping()) return k;
    const fn = ctx.resolve(name);
    if (fn === undefined) return k;
    const first = indexes[k]!;
    const entry = items[first]!.entry;
    const gate = gateOf(fn, entry, ctx.now());
    if (gate !== null) {
      bury(fn, first, gate.reason, { name: gate.name, message: gate.message, stack: '', kind: 'handler' }, attemptsBefore(first));
      k++;
      continue;
    }
    // A chain: the next events that may run, in order.
    const chain: number[] = [];
    for (let j = k; j < indexes.length && chain.length < (exclusive ? 1 : ctx.maxChain); j++) {
      if (j > k && gateOf(fn, items[indexes[j]!]!.entry, ctx.now()) !== null) break;
      chain.push(indexes[j]!);
    }
    const results = await runChain(ctx, fn, name, items, chain, exclusive, attemptsBefore, marks, settledOne);
    exclusive = false;
    let next = k + chain.length;
    for (let c = 0; c < chain.length; c++) {
      const r = results[c]!;
      if (r.status === 'ok') continue;
      next = k + c;
      if (r.status === 'skipped') {
        exclusive = r.suspect === true;
        break;
      }
      const i = chain[c]!;
      const attempt = attemptsBefore(i) + 1;
      const now = ctx.now();
      const decision = decideRetry({
        attempt, errorKind: r.error.kind, policy: fn.manifest.retry, deadLetter: fn.manifest.deadLetter,
        eventTime: eventTimeOf(items[i]!.entry), maxEventAgeMs: fn.manifest.maxEventAgeMs, now, random: ctx.random,
      });
      if (decision.action !== 'retry') {
        bury(fn, i, decision.reason, r.error, attempt, { durationMs: r.durationMs, logs: r.logs, ...(r.fetches ? { fetches: r.fetches } : {}) });
        next = k + c + 1;
        break;
      }
      const rec = recordOf(i);
      rec.attempts = attempt;
      if (rec.firstFailureAt === 0) rec.firstFailureAt = now;
      rec.lastFailureAt = now;
      ctx.report(fn, ctx.partition, items[i]!.entry, { status: 'retry', attempt, durationMs: r.durationMs, error: r.error, retryInMs: decision.delayMs, logs: r.logs, ...(r.fetches ? { fetches: r.fetches } : {}) });
      // The attempt is durable before the wait: a crash loop on a poison event still ends in the DLQ.
      try {
        await ctx.commits.failed(fn, items[i]!.entry.id, JSON.stringify(rec));
      } catch {
        return k + c; // fenced
      }
      if (!(await ctx.sleep(decision.delayMs))) return k + c;
      break;
    }
    k = next;
  }
  return k;
}

/** Results of one chain, in order; completions are recorded as each arrives. */
function runChain(
  ctx: RunContext, fn: FunctionHandle, name: string, items: readonly RunItem[], chain: readonly number[], exclusive: boolean,
  attemptsBefore: (i: number) => number, marks: boolean, settledOne: (index: number) => void,
): Promise<InvocationResult[]> {
  const results: InvocationResult[] = [];
  const firstKey = items[chain[0]!]!.entry.key;
  let broken = false;
  let itemsJson = '[';
  for (let c = 0; c < chain.length; c++) {
    const i = chain[c]!;
    const entry = items[i]!.entry;
    itemsJson += `${c === 0 ? '' : ','}{"event":${ctx.eventJson(entry)},"attempt":${attemptsBefore(i) + 1},"idem":${JSON.stringify(ctx.idempotencyKey(name, entry))}}`;
  }
  itemsJson += ']';
  const onResult = (c: number, r: InvocationResult) => {
    const i = chain[c]!;
    const entry = items[i]!.entry;
    if (r.status !== 'skipped') items[i]!.started = true;
    // After an invalid emit the later events ran on a state that never was: they run again.
    if (broken) r = { status: 'skipped' };
    else if (r.status === 'ok') {
      let emits: EncodedEmit[];
      try {
        emits = r.emits.length === 0 ? [] : ctx.encodeEmits(r.emits, entry.hops, ctx.now());
      } catch (error) {
        broken = true;
        r = { status: 'error', error: { name: 'InvalidEmit', message: `ctx.emit: ${(error as Error).message}`, stack: '', kind: 'handler' }, logs: r.logs, durationMs: r.durationMs };
        results[c] = r;
        return;
      }
      let change: StateChange | null = null;
      if (r.state !== undefined && entry.key !== null) {
        ctx.usesState.add(name);
        change = { hash: ctx.stateHash(name, entry.key), writes: new Map(Object.entries(r.state)), ttlMs: fn.manifest.state.ttlMs };
      }
      ctx.commits.completed(fn, entry.id, emits, change, marks);
      const committed = change !== null || emits.some((e) => e.outboxed) ? ctx.commits.flush() : null;
      if (change !== null) ctx.state.apply(change.hash, r.state!, committed!);
      if (emits.some((e) => e.outboxed)) ctx.relayOutbox(committed!);
      ctx.report(fn, ctx.partition, entry, { status: 'ok', attempt: attemptsBefore(i) + 1, durationMs: r.durationMs, ...(r.logs.length > 0 ? { logs: r.logs } : {}), ...(r.fetches ? { fetches: r.fetches } : {}) });
      settledOne(i);
    }
    results[c] = r;
  };
  const readState = async (key: string) => {
    ctx.usesState.add(name);
    return JSON.stringify(await ctx.state.read(ctx.stateHash(name, key)));
  };
  const run = async (): Promise<InvocationResult[]> => {
    let state: string | null = null;
    if (firstKey !== null) {
      const hash = ctx.stateHash(name, firstKey);
      const cached = ctx.state.peek(hash);
      if (cached !== null) state = JSON.stringify(cached);
      else if (ctx.usesState.has(name)) state = JSON.stringify(await ctx.state.read(hash));
    }
    await ctx.dispatch(fn, { items: itemsJson, count: chain.length, state, exclusive, onResult, readState });
    return results;
  };
  return run();
}

/**
 * A stream entry that is not an event: dead-lettered (whatever `deadLetter` says: it is the
 * producer's bug, and the raw fields are the evidence) for every member that may want it, then acked.
 */
export function settleMalformed(ctx: RunContext, entry: MalformedEntry): void {
  const now = ctx.now();
  const members = ctx.group.members.length > 1;
  for (const m of ctx.group.members) {
    const fn = ctx.resolve(m.name) ?? m;
    if (entry.type !== null && !fn.matches(entry.type)) continue;
    const record: FailureRecord = { attempts: 1, firstFailureAt: now, lastFailureAt: now };
    const error: SerializedError = { name: 'MalformedEvent', message: entry.reason, stack: '', kind: 'handler' };
    ctx.commits.deadLettered(fn, entry.id, deadLetterFields(entry, ctx.partition, fn, 'malformed', error, record, now), members);
    ctx.report(fn, ctx.partition, { id: entry.id, type: entry.type, key: null }, { status: 'dead-lettered', attempt: 1, durationMs: 0, error, reason: 'malformed' });
  }
  ctx.commits.acked(entry.id);
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
