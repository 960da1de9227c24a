/**
 * Host operations inside the isolate: a timer, a state read or a fetch is started on the child's
 * side (child/host-ops.ts) and settles when the child resumes the isolate, in a call bounded like
 * any other entry. Each operation belongs to an invocation, which cancels what it still has open
 * when it ends: a cancelled operation's promise rejects with a marker nothing awaits in user code.
 *
 * Runs INSIDE the isolate: shipped as source, so it must stay self-contained.
 */
import type { FetchBridge } from './shim-fetch.ts';

/** The part of an invocation its operations need. */
export interface OpOwner {
  done: boolean;
  /** Ids of the invocation's open operations (created on its first one). */
  ops: Set<number> | null;
  chain: { cid: number };
}

/** An open operation: whom it belongs to, and how to settle its promise. */
export interface Op<T> {
  owner: T;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

/** The operations of one isolate, started and cancelled through the child's callbacks. */
export interface Ops<T> {
  start(owner: T, kind: string, arg: string, bytes?: ArrayBuffer): { id: number; promise: Promise<unknown> };
  /** Cancels operation `id` here and in the child (nothing if it is no longer open). */
  cancel(id: number): void;
  /** Removes operation `id` to settle it; undefined when it was cancelled meanwhile. */
  take(id: number): Op<T> | undefined;
}

/** Builds the operation table; `opStart` and `opCancel` are the child's (ignored) callbacks. */
export function createOps<T extends OpOwner>(
  opStart: (id: number, cid: number, kind: string, arg: string, bytes?: ArrayBuffer) => void,
  opCancel: (id: number) => void,
): Ops<T> {
  const PromiseCtor = Promise;
  const CANCELLED = Object.freeze({ cancelled: true });
  const ops = new Map<number, Op<T>>();
  let opSeq = 0;

  function start(owner: T, kind: string, arg: string, bytes?: ArrayBuffer): { id: number; promise: Promise<unknown> } {
    const id = ++opSeq;
    const promise = new PromiseCtor<unknown>((resolve, reject) => ops.set(id, { owner, resolve, reject }));
    (owner.ops ??= new Set()).add(id);
    if (bytes === undefined) opStart(id, owner.chain.cid, kind, arg);
    else opStart(id, owner.chain.cid, kind, arg, bytes);
    return { id, promise };
  }

  function take(id: number): Op<T> | undefined {
    const op = ops.get(id);
    if (op === undefined) return undefined;
    ops.delete(id);
    op.owner.ops?.delete(id);
    return op;
  }

  function cancel(id: number): void {
    const op = take(id);
    if (op === undefined) return;
    opCancel(id);
    op.reject(CANCELLED);
  }

  return { start, cancel, take };
}

/**
 * The bridge shim-fetch.ts sends requests through, made of host operations: a fetch's answer
 * resumes the isolate in a timed call, as a timer's does.
 */
export function createFetchBridge<T extends OpOwner>(ops: Ops<T>, current: () => T | null): FetchBridge {
  const stringify = JSON.stringify;
  const PromiseCtor = Promise;
  const fetchOps = new Map<number, number>();
  return {
    fetchStart: {
      apply: (_recv, [, requestId, json, body]) => {
        const owner = current();
        if (owner === null || owner.done) return PromiseCtor.resolve([stringify({ ok: false, kind: 'aborted', message: 'fetch was aborted: its invocation has ended' }), null]);
        const op = ops.start(owner, 'fetch', json, body ?? undefined);
        fetchOps.set(requestId, op.id);
        const forget = () => { fetchOps.delete(requestId); };
        op.promise.then(forget, forget);
        return op.promise;
      },
    },
    fetchAbort: (requestId) => {
      const opId = fetchOps.get(requestId);
      if (opId !== undefined) ops.cancel(opId);
    },
  };
}
