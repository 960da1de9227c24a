/**
 * Requests the host sends to the sandbox process, and the pure decisions about them: the message,
 * the deadline, how a reply or a blame becomes a result.
 */
import { SandboxError } from '../../errors.ts';
import type { InvocationResult } from '../../types.ts';
import { LOAD_GRACE_MS, START_GRACE_MS, WATCHDOG_TICK_MS, WEDGE_GRACE_MS, type Culprit, type LoadSpec, type ParentMessage, type SandboxStatus } from '../protocol.ts';
import { failureJson } from '../results.ts';

interface OpBase {
  fnId: string;
  /** Assigned per send: a re-sent op gets a new one, so a stale reply can never settle it. */
  rid: number;
  deadlineAt: number;
  /** Runs with nothing else in flight, so a death while it runs is its own fault. */
  exclusive: boolean;
  reject(e: Error): void;
}

/** Load a function version (`restore`: a reload into a new child after a crash). */
export type LoadOp = OpBase & { kind: 'load'; spec: LoadSpec; restore: boolean; resolve(v: { config: unknown }): void };
/** Dispose a function version's isolate. */
export type UnloadOp = OpBase & { kind: 'unload'; resolve(): void };
/** Run a batch; `timeoutMs` is the function's, used for the host-side deadline. */
export type InvokeOp = OpBase & { kind: 'invoke'; batch: string; count: number; timeoutMs: number; resolve(r: InvocationResult[]): void };
/** Ask the child about itself. */
export type StatusOp = OpBase & { kind: 'status'; resolve(s: SandboxStatus): void };
/** Any request the host sends to the child. */
export type Op = LoadOp | UnloadOp | InvokeOp | StatusOp;

/** Host-side backstop, well past the child's own watchdog: only a hung child misses it. */
export function opBudgetMs(op: Op): number {
  switch (op.kind) {
    case 'invoke':
      return START_GRACE_MS + op.count * (op.timeoutMs + WEDGE_GRACE_MS + 2 * WATCHDOG_TICK_MS) + 10_000;
    case 'load':
      return op.spec.limits.timeoutMs + LOAD_GRACE_MS + WEDGE_GRACE_MS + 10_000;
    default:
      return 10_000;
  }
}

/** The IPC message for a request. */
export function opMessage(op: Op): ParentMessage {
  switch (op.kind) {
    case 'load':
      return { t: 'load', rid: op.rid, spec: op.spec };
    case 'unload':
      return { t: 'unload', rid: op.rid, id: op.fnId };
    case 'invoke':
      return { t: 'invoke', rid: op.rid, id: op.fnId, batch: op.batch, count: op.count };
    case 'status':
      return { t: 'status', rid: op.rid };
  }
}

/** Settles an op with the child's successful answer. */
export function settleOk(op: Op, value: unknown): void {
  try {
    switch (op.kind) {
      case 'load':
        return op.resolve({ config: JSON.parse(value as string) as unknown });
      case 'unload':
        return op.resolve();
      case 'status':
        return op.resolve(value as SandboxStatus);
      case 'invoke':
        return op.resolve(parseResults(value as string, op.count));
    }
  } catch (e) {
    op.reject(e instanceof SandboxError ? e : new SandboxError(`malformed answer from the sandbox: ${(e as Error).message}`, { cause: e }));
  }
}

function parseResults(json: string, count: number): InvocationResult[] {
  const results = JSON.parse(json) as InvocationResult[];
  if (!Array.isArray(results) || results.length !== count) {
    throw new SandboxError(`the sandbox returned ${Array.isArray(results) ? results.length : 'no'} results for ${count} events`);
  }
  return results;
}

/**
 * The results of a batch cut short at `culprit.index`: what the child reported, then (after the
 * caller re-ran the unflushed events between) the culprit's failure. Null failure when the kill
 * came after the last event.
 */
export function culpritParts(op: InvokeOp, c: Culprit): { done: InvocationResult[]; index: number; failure: InvocationResult | null } {
  const index = Math.min(Math.max(0, c.index), op.count);
  let done: InvocationResult[] = [];
  try {
    done = (JSON.parse(c.done) as InvocationResult[]).slice(0, index);
  } catch {
    // Keep none: they are re-run.
  }
  const failure = index < op.count ? (JSON.parse(failureJson(c.kind, c.message, c.durationMs)) as InvocationResult) : null;
  return { done, index, failure };
}

/** Splits a batch (JSON array text) into one-event batches, to find which event kills the process. */
export function splitBatch(batch: string): string[] {
  const items = JSON.parse(batch) as unknown[];
  if (!Array.isArray(items)) throw new SandboxError('the batch is not a JSON array');
  return items.map((item) => JSON.stringify([item]));
}
