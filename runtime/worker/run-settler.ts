/**
 * Settles one **run** — consecutive events of one key, in id order — for one consumer group: each
 * member function runs over the run's events (members in declared order for a `sequential` group,
 * side by side for a `parallel` one), in chains handed to the sandbox; each event is completed, or
 * retried after its backoff (holding back only this key), or given up on (dead-lettered or
 * dropped). An event is acknowledged once every member settled it. A chain's run and success path
 * are chain-run.ts, the failure path member-failures.ts; everything they touch comes in through
 * {@link RunContext} (run-context.ts).
 */
import { deadLetterFields, type FailureRecord } from '../dead-letters/dead-letter-record.ts';
import type { MalformedEntry, WireEvent } from '../events/wire.ts';
import type { FunctionHandle } from '../loading/function-handle.ts';
import type { SerializedError } from '../types.ts';
import { runChain } from './chain-run.ts';
import { MemberFailures } from './member-failures.ts';
import type { RunContext, RunItem } from './run-context.ts';

/** Settles `items` (one key's run); resolves with how many of them, from the first, every member settled. */
export async function settleRun(ctx: RunContext, items: readonly RunItem[]): Promise<number> {
  const group = ctx.group.members;
  const n = group.length;
  // A member just removed or being replaced: settle nothing now, its worker is about to stop.
  for (let m = 0; m < n; m++) if (ctx.resolve(group[m]!.name) === undefined) return 0;
  const marks = n > 1;
  // Per member, the indexes of the events it still has to settle (relevant to it, not done before
  // a crash); per event, how many members it still waits for.
  const waiting = new Array<number>(items.length).fill(0);
  const owed: number[][] = new Array<number[]>(n);
  for (let m = 0; m < n; m++) {
    const name = group[m]!.name;
    const fn = ctx.resolve(name);
    const indexes: number[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (isRelevant(fn, item.entry) && item.prior?.done.has(name) !== true) {
        indexes.push(i);
        waiting[i]!++;
      }
    }
    owed[m] = indexes;
  }
  const settledOne = (index: number) => {
    if (--waiting[index]! === 0) ctx.commits.acked(items[index]!.entry.id);
  };
  for (let i = 0; i < items.length; i++) if (waiting[i] === 0) ctx.commits.acked(items[i]!.entry.id);
  // The keys' state stays cached while their run is out (see state-cache.ts): each chain holds the
  // keys it uses (chain-run.ts), and they are all released when the run is over.
  const held: string[] = [];
  try {
    if (ctx.group.mode === 'parallel' && n > 1) {
      await Promise.all(group.map((member, m) => settleMember(ctx, member.name, items, owed[m]!, marks, settledOne, held)));
    } else {
      for (let m = 0; m < n; m++) {
        const indexes = owed[m]!;
        const reached = await settleMember(ctx, group[m]!.name, items, indexes, marks, settledOne, held);
        if (reached < indexes.length) break; // stopped: later members do not run ahead of it
      }
    }
  } finally {
    for (const h of held) ctx.state.release(h);
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
async function settleMember(ctx: RunContext, name: string, items: readonly RunItem[], indexes: readonly number[], marks: boolean, settledOne: (index: number) => void, held: string[]): Promise<number> {
  const failures = new MemberFailures(ctx, name, items, marks, settledOne);
  let k = 0;
  let exclusive = false;
  while (k < indexes.length) {
    if (ctx.stopping()) return k;
    const fn = ctx.resolve(name);
    if (fn === undefined) return k;
    if (failures.buryIfGated(fn, indexes[k]!)) {
      k++;
      continue;
    }
    // A chain: the next events that may run, in order.
    const chain: number[] = [];
    for (let j = k; j < indexes.length && chain.length < (exclusive ? 1 : ctx.maxChain); j++) {
      if (j > k && failures.isGated(fn, indexes[j]!)) break;
      chain.push(indexes[j]!);
    }
    const results = await runChain(ctx, fn, name, items, chain, exclusive, failures, marks, settledOne, held);
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
      const outcome = await failures.failed(fn, chain[c]!, r);
      if (outcome === 'stopped') return k + c;
      if (outcome === 'buried') next = k + c + 1;
      break;
    }
    k = next;
  }
  return k;
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
