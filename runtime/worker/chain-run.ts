/**
 * One chain of a member's run in the sandbox — the next events of one key that may run, in one
 * call — and its success path: as each result arrives, a completed event's emits are encoded
 * (an invalid emit fails it, and the rest of the chain runs again), its state change and emits
 * are queued for commit with its completion, and it is reported and counted settled. Failures
 * are left to the caller (member-failures.ts).
 */
import type { FunctionHandle } from '../loading/function-handle.ts';
import type { InvocationResult } from '../types.ts';
import type { StateChange } from './commit-batch.ts';
import type { EncodedEmit } from './emits.ts';
import type { MemberFailures } from './member-failures.ts';
import type { Outcome } from './reporter.ts';
import type { RunContext, RunItem } from './run-context.ts';

/** Results of one chain, in order; completions are recorded as each arrives. */
export function runChain(
  ctx: RunContext, fn: FunctionHandle, name: string, items: readonly RunItem[], chain: readonly number[], exclusive: boolean,
  failures: MemberFailures, marks: boolean, settledOne: (index: number) => void,
  /** State hashes this run holds (see state-cache.ts); the chain adds the ones it uses. */
  held: string[],
): Promise<InvocationResult[]> {
  const results: InvocationResult[] = [];
  const firstKey = items[chain[0]!]!.entry.key;
  let broken = false;
  // Attempts cannot change while the chain waits for its slot: none of its events runs meanwhile.
  const itemsJson = () => {
    let json = '[';
    for (let c = 0; c < chain.length; c++) {
      const i = chain[c]!;
      const entry = items[i]!.entry;
      json += `${c === 0 ? '' : ','}{"event":${ctx.eventJson(entry)},"attempt":${failures.attemptsBefore(i) + 1},"idem":${JSON.stringify(ctx.idempotencyKey(name, entry))}}`;
    }
    return json + ']';
  };
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
      const outboxed = emits.length > 0 && emits.some((e) => e.outboxed);
      const committed = change !== null || outboxed ? ctx.commits.flush() : null;
      if (change !== null) ctx.state.apply(change.hash, r.state!, committed!);
      if (outboxed) ctx.relayOutbox(committed!);
      const outcome: Outcome = { status: 'ok', attempt: failures.attemptsBefore(i) + 1, durationMs: r.durationMs };
      if (r.logs.length > 0) outcome.logs = r.logs;
      if (r.fetches) outcome.fetches = r.fetches;
      ctx.report(fn, ctx.partition, entry, outcome);
      settledOne(i);
    }
    results[c] = r;
  };
  // A key's state is read (and cached) only while held; `held` is released when the run ends.
  const holding = (hash: string): string => {
    if (!held.includes(hash)) {
      ctx.state.hold(hash);
      held.push(hash);
    }
    return hash;
  };
  const readState = async (key: string) => {
    ctx.usesState.add(name);
    return JSON.stringify(await ctx.state.read(holding(ctx.stateHash(name, key))));
  };
  const send = (state: string | null) => ctx.dispatch(fn, { items: itemsJson, count: chain.length, state, exclusive, onResult, readState }).then(() => results);
  // Only a function seen using state gets its key's state with the chain; no await unless it must
  // come from Redis first (one promise per chain).
  if (firstKey === null || !ctx.usesState.has(name)) return send(null);
  const hash = holding(ctx.stateHash(name, firstKey));
  const cached = ctx.state.peek(hash);
  return cached !== null ? send(JSON.stringify(cached)) : ctx.state.read(hash).then((loaded) => send(JSON.stringify(loaded)));
}
