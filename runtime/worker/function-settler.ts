/**
 * Runs one function over one batch of a partition until every event it subscribes to is settled:
 * completed, or dead-lettered after its last attempt. Keeps per-key order by retrying a failed
 * event (after backoff) before any later event of the partition — head-of-line, as Kafka consumers
 * and Lambda stream triggers do.
 */
import { retryDelayMs } from '../policy/backoff.ts';
import { Commit } from './commit.ts';
import { deadLetterFields, type DeadLetterReason, type FailureRecord } from '../dead-letters/dead-letter-record.ts';
import type { FunctionHandle, InvocationRecord } from '../loading/function-handle.ts';
import type { PartitionKeys } from '../redis/keys.ts';
import type { Logger } from '../logger.ts';
import { encodeEvent } from '../events/publisher.ts';
import type { Keys } from '../redis/keys.ts';
import type { InflightTracker } from './inflight.ts';
import type { InvokeCoalescer } from './invoke-coalescer.ts';
import type { ScriptedRedis } from '../redis/scripts.ts';
import { streamIdTime } from '../redis/stream-id.ts';
import type { Emit, InvocationResult, LogLine, SerializedError } from '../types.ts';
import { eventJson, isMalformed, type DecodedEntry, type WireEvent } from '../events/wire.ts';

/** Everything a settler needs from its worker; passed in so the loop is testable and allocation-free. */
export interface SettleContext {
  redis: ScriptedRedis;
  keys: Keys;
  pk: PartitionKeys;
  partition: number;
  partitions: number;
  group: string;
  /** Sandbox calls, merged per function when they queue (see invoke-coalescer.ts). */
  invoker: InvokeCoalescer;
  inflight: InflightTracker;
  /** The newest loaded version of a function, if it is still loaded. */
  resolve: (name: string) => FunctionHandle | undefined;
  batchSize: number;
  maxEventBytes: number;
  /** Moves when the connection dropped (see connectionEpoch in redis.ts). */
  connectionEpoch: () => number;
  /** True on a Redis Cluster: an emit to another partition goes through the outbox (see outbox-relay.ts). */
  outboxEmits: boolean;
  /** Asks for the outbox of a partition to be relayed. */
  relayOutbox: (partition: number) => void;
  logger: Logger;
  onInvocation: ((record: InvocationRecord) => void) | undefined;
  /** Resolves true after `ms`, or false at once when the worker is stopping. */
  sleep: (ms: number) => Promise<boolean>;
  /** The partition's lease token that commits must match; '' when this process owns every partition unfenced. */
  fence: () => string;
  /** True once the worker is stopping: finish the invocation in flight, commit, return. */
  stopping: () => boolean;
  now: () => number;
  random: () => number;
}

/** What a crashed earlier run left: failures so far, deliveries, and events this function already completed. */
export interface PriorState {
  failures: Map<string, FailureRecord>;
  deliveries: Map<string, number>;
  done: Set<string>;
}

/**
 * Settles `entries` for `fn`. Returns false if the worker stopped before everything was settled
 * (what was settled is committed; the rest stays pending and is redelivered).
 */
export async function settleFunction(
  ctx: SettleContext,
  initial: FunctionHandle,
  entries: readonly DecodedEntry[],
  mode: 'ack' | 'mark',
  clearDone: readonly string[],
  prior: PriorState | null,
): Promise<boolean> {
  // The version in use stays loaded until this batch is settled; a reload swaps in a new one
  // for the retries that follow a backoff.
  const holder = { fn: initial };
  ctx.inflight.enter(initial.sandboxId);
  try {
    return await settle(ctx, holder, entries, mode, clearDone, prior);
  } finally {
    ctx.inflight.leave(holder.fn.sandboxId);
  }
}

async function settle(
  ctx: SettleContext,
  holder: { fn: FunctionHandle },
  entries: readonly DecodedEntry[],
  mode: 'ack' | 'mark',
  clearDone: readonly string[],
  prior: PriorState | null,
): Promise<boolean> {
  let fn = holder.fn;
  const commit = new Commit();
  const failures = new Map<string, FailureRecord>();
  // In 'ack' mode every entry up to this index is acknowledged at the next flush, relevant or not.
  let acked = 0;
  const flush = async (upTo: number) => {
    if (mode === 'ack') for (; acked < upTo; acked++) commit.settle(entries[acked]!.id);
    if ((await commit.flush(ctx.redis, ctx.pk, ctx.group, fn, mode, clearDone, ctx.fence())) > 0) ctx.relayOutbox(ctx.partition);
  };
  const relevant = (e: DecodedEntry): boolean => {
    if (prior?.done.has(e.id)) return false;
    if (isMalformed(e)) return e.type === null || fn.matches(e.type);
    return fn.matches(e.type) && (e.target === null || e.target === fn.name);
  };
  // A fresh event has no failure record; allocate one only when an event fails or was redelivered.
  const failureOf = (id: string): FailureRecord => {
    let f = failures.get(id);
    if (f === undefined) {
      const stored = prior?.failures.get(id);
      f = { attempts: previousAttempts(id), firstFailureAt: stored?.firstFailureAt ?? 0, lastFailureAt: stored?.lastFailureAt ?? 0 };
      failures.set(id, f);
    }
    return f;
  };
  const previousAttempts = (id: string): number => {
    const known = failures.get(id);
    if (known !== undefined) return known.attempts;
    if (prior === null) return 0;
    // A delivery that never reported back (a crash mid-invocation) counts as an attempt.
    const crashed = Math.max(0, (prior.deliveries.get(id) ?? 1) - 1);
    return Math.max(prior.failures.get(id)?.attempts ?? 0, crashed);
  };
  const bury = (entry: DecodedEntry, reason: DeadLetterReason, error: SerializedError, durationMs: number, logs?: readonly LogLine[]) => {
    const now = ctx.now();
    const f = failureOf(entry.id);
    if (f.firstFailureAt === 0) f.firstFailureAt = now;
    f.lastFailureAt = now;
    if (fn.manifest.deadLetter || reason === 'malformed') {
      commit.deadLetter(deadLetterFields(entry, ctx.partition, fn, reason, error, f, now));
    }
    if (mode === 'mark') commit.settle(entry.id);
    report(entry, f.attempts, fn.manifest.deadLetter || reason === 'malformed' ? 'dead-lettered' : 'dropped', durationMs, error, undefined, logs);
  };
  const report = (entry: DecodedEntry, attempt: number, status: InvocationRecord['status'], durationMs: number, error?: SerializedError, retryInMs?: number, logs?: readonly LogLine[]) => {
    const hasLogs = logs !== undefined && logs.length > 0;
    if (ctx.onInvocation === undefined && status === 'ok' && !hasLogs) return;
    const record: InvocationRecord = {
      function: fn.name, version: fn.version, partition: ctx.partition, eventId: entry.id,
      type: entry.type, key: isMalformed(entry) ? null : entry.key, attempt, status, durationMs,
    };
    if (error) record.error = error;
    if (retryInMs !== undefined) record.retryInMs = retryInMs;
    if (hasLogs) record.logs = logs;
    ctx.onInvocation?.(record);
    if (hasLogs) for (const line of logs) ctx.logger[line.level]({ function: fn.name, version: fn.version, partition: ctx.partition, eventId: entry.id, attempt, time: line.time }, line.msg);
    if (status !== 'ok') ctx.logger.warn(record, `${fn.name}: ${status} ${entry.id}`);
  };

  let i = 0;
  while (i < entries.length) {
    const entry = entries[i]!;
    if (!relevant(entry)) { i++; continue; }
    if (isMalformed(entry)) {
      const f = failureOf(entry.id);
      f.attempts = Math.max(f.attempts, 1);
      bury(entry, 'malformed', { name: 'MalformedEvent', message: entry.reason, stack: '', kind: 'handler' }, 0);
      i++;
      continue;
    }
    if (isExpired(fn, entry, ctx.now())) {
      bury(entry, 'expired', { name: 'EventExpired', message: `event is older than maxEventAgeMs (${fn.manifest.maxEventAgeMs} ms)`, stack: '', kind: 'handler' }, 0);
      i++;
      continue;
    }
    // A run of consecutive invocable events, one sandbox call.
    const run: number[] = [];
    let firstAttempt = true;
    let json = '[';
    for (let j = i; j < entries.length && run.length < ctx.batchSize; j++) {
      const e = entries[j]!;
      if (!relevant(e)) continue;
      if (isMalformed(e) || isExpired(fn, e, ctx.now())) break;
      if (run.length > 0) json += ',';
      const attempt = previousAttempts(e.id) + 1;
      if (attempt > 1) firstAttempt = false;
      json += `{"event":${eventJson(e, ctx.partition)},"attempt":${attempt}}`;
      run.push(j);
    }
    json += ']';
    const results = await ctx.invoker.invoke(fn.sandboxId, json, run.length, firstAttempt);
    let next = run[run.length - 1]! + 1;
    for (let k = 0; k < run.length; k++) {
      const index = run[k]!;
      const event = entries[index] as WireEvent;
      const result = checkEmits(results[k]!, ctx);
      const attempt = previousAttempts(event.id) + 1;
      if (result.status === 'ok') {
        for (const emit of result.encoded) {
          commit.emit(emit.stream, emit.fields, ctx.outboxEmits && emit.partition !== ctx.partition ? { key: ctx.pk.outbox, to: emit.partition } : null);
        }
        if (mode === 'mark') commit.settle(event.id);
        report(event, attempt, 'ok', result.durationMs, undefined, undefined, result.logs);
        continue;
      }
      if (result.status === 'skipped') { next = index; break; }
      const f = failureOf(event.id);
      const now = ctx.now();
      f.attempts = attempt;
      if (f.firstFailureAt === 0) f.firstFailureAt = now;
      f.lastFailureAt = now;
      if (attempt >= fn.manifest.retry.attempts) {
        bury(event, 'failed', result.error, result.durationMs, result.logs);
        next = index + 1;
        break;
      }
      const delay = retryDelayMs(fn.manifest.retry, attempt, ctx.random);
      report(event, attempt, 'retry', result.durationMs, result.error, delay, result.logs);
      // Commit what is settled before waiting, so a crash during the backoff redoes nothing of it,
      // and make the attempt count durable so a crash loop still ends in the DLQ.
      await flush(index);
      await ctx.redis.hset(ctx.pk.attempts(fn.name), event.id, JSON.stringify(f));
      if (!(await ctx.sleep(delay))) return false;
      const latest = ctx.resolve(fn.name);
      if (latest !== undefined && latest !== fn) {
        ctx.inflight.enter(latest.sandboxId);
        ctx.inflight.leave(fn.sandboxId);
        holder.fn = fn = latest;
      }
      next = index;
      break;
    }
    i = next;
    if (ctx.stopping() && i < entries.length) {
      await flush(i);
      return false;
    }
  }
  await flush(entries.length);
  return true;
}

/** A replayed event's age counts from its replay (its new entry id), not from its first publish. */
function isExpired(fn: FunctionHandle, e: WireEvent, now: number): boolean {
  const max = fn.manifest.maxEventAgeMs;
  if (max === null) return false;
  const since = e.target === null ? e.time : Math.max(e.time, streamIdTime(e.id));
  return now - since > max;
}

type CheckedResult =
  | { status: 'ok'; encoded: { stream: string; partition: number; fields: string[] }[]; logs: LogLine[]; durationMs: number }
  | { status: 'error'; error: SerializedError; logs: LogLine[]; durationMs: number }
  | { status: 'skipped' };

/** Encodes an ok result's emits; an invalid emit fails the invocation like a thrown error would. */
function checkEmits(result: InvocationResult, ctx: SettleContext): CheckedResult {
  if (result.status !== 'ok') return result;
  const encoded: { stream: string; partition: number; fields: string[] }[] = [];
  const now = ctx.now();
  try {
    for (const emit of result.emits as Emit[]) {
      const e = encodeEvent(ctx.keys, ctx.partitions, ctx.maxEventBytes, { type: emit.type, key: emit.key ?? null, data: emit.data }, now);
      encoded.push({ stream: e.stream, partition: e.partition, fields: e.fields });
    }
  } catch (error) {
    const err = error as Error;
    return { status: 'error', error: { name: 'InvalidEmit', message: `ctx.emit: ${err.message}`, stack: '', kind: 'handler' }, logs: result.logs, durationMs: result.durationMs };
  }
  return { status: 'ok', encoded, logs: result.logs, durationMs: result.durationMs };
}
