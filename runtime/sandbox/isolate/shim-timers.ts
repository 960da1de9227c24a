/**
 * setTimeout / clearTimeout / queueMicrotask inside the isolate, scoped to one invocation: a timer
 * can only be set while a handler runs, and the invocation's pending timers are cancelled when it
 * ends, so no user code runs between invocations on a timer. A throwing callback fails its
 * invocation. A timer is a host operation ("sleep"): the host resumes the isolate when it is due,
 * inside a call bounded by the invocation's timeout.
 *
 * Runs INSIDE the isolate: shipped as source, so it must stay self-contained.
 */

/** The part of an invocation the timers need. */
export interface TimerOwner {
  done: boolean;
}

/** Starts a host operation for `owner`; resolves when the host resumes it, rejects once it is cancelled. */
export type StartOp<T> = (owner: T, kind: string, arg: string) => { id: number; promise: Promise<unknown> };

/** Installs the globals. */
export function installTimers<T extends TimerOwner>(
  g: Record<string, unknown>,
  startOp: StartOp<T>,
  cancelOp: (id: number) => void,
  current: () => T | null,
  fail: (owner: T, e: unknown) => void,
): void {
  const MAX_TIMERS = 10_000;
  const resolved = Promise.resolve();
  const timers = new Map<number, { owner: T; fn: (...a: unknown[]) => void; args: unknown[] }>();

  function fire(id: number): void {
    const t = timers.get(id);
    if (t === undefined) return; // cleared, or its invocation ended
    timers.delete(id);
    if (t.owner.done) return;
    try {
      t.fn(...t.args);
    } catch (e) {
      fail(t.owner, e);
    }
  }

  function setTimeout(fn: unknown, ms?: unknown, ...args: unknown[]): number {
    const owner = current();
    if (owner === null || owner.done) throw new Error('setTimeout only works while a handler runs (fnrun cancels pending timers when the invocation ends)');
    if (typeof fn !== 'function') throw new TypeError('setTimeout: the callback must be a function');
    if (timers.size >= MAX_TIMERS) throw new RangeError(`setTimeout: more than ${MAX_TIMERS} pending timers`);
    let delay = Number(ms);
    if (!(delay >= 0)) delay = 0;
    if (delay > 2147483647) delay = 2147483647;
    const op = startOp(owner, 'sleep', String(Math.floor(delay)));
    timers.set(op.id, { owner, fn: fn as (...a: unknown[]) => void, args });
    op.promise.then(() => fire(op.id), () => timers.delete(op.id));
    return op.id;
  }

  function clearTimeout(id: unknown): void {
    if (!timers.delete(id as number)) return;
    cancelOp(id as number);
  }

  function queueMicrotask(fn: unknown): void {
    if (typeof fn !== 'function') throw new TypeError('queueMicrotask: the callback must be a function');
    const owner = current();
    resolved.then(() => (fn as () => void)()).catch((e: unknown) => owner !== null && fail(owner, e));
  }

  for (const [name, value] of [
    ['setTimeout', setTimeout],
    ['clearTimeout', clearTimeout],
    ['queueMicrotask', queueMicrotask],
  ] as const) {
    Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
  }
}
