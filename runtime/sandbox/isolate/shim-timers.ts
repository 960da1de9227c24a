/**
 * setTimeout / clearTimeout / queueMicrotask inside the isolate, scoped to one invocation: a timer
 * can only be set while a handler runs, and the invocation's pending timers are cancelled when it
 * ends, so no user code runs between invocations. A throwing callback fails its invocation.
 *
 * Runs INSIDE the isolate: shipped as source, so it must stay self-contained.
 */

/** The part of an invocation the timers need. */
export interface TimerOwner {
  done: boolean;
  timers: Set<number> | null;
}

/** The host functions the timers use. */
export interface TimerBridge {
  /** ivm.Reference to the host's `(id, ms) => Promise<void>`. */
  sleep: { apply(recv: undefined, args: [number, number], opts: { result: { promise: true } }): Promise<unknown> };
  cancelTimer(id: number): void;
}

/** Installs the globals; returns `end(owner)`, which cancels the owner's pending timers. */
export function installTimers<T extends TimerOwner>(
  g: Record<string, unknown>,
  bridge: TimerBridge,
  current: () => T | null,
  fail: (owner: T, e: unknown) => void,
): (owner: T) => void {
  const MAX_TIMERS = 10_000;
  const SLEEP_OPTS = { result: { promise: true } } as const;
  const resolved = Promise.resolve();
  const noop = (): void => {};
  const { sleep, cancelTimer } = bridge;
  const timers = new Map<number, { owner: T; fn: (...a: unknown[]) => void; args: unknown[] }>();
  let seq = 0;

  function fire(id: number): void {
    const t = timers.get(id);
    if (t === undefined) return; // cleared, or its invocation ended
    timers.delete(id);
    t.owner.timers?.delete(id);
    if (t.owner.done) return;
    try {
      t.fn(...t.args);
    } catch (e) {
      fail(t.owner, e);
    }
  }

  function setTimeout(fn: unknown, ms?: unknown, ...args: unknown[]): number {
    const owner = current();
    if (owner === null) throw new Error('setTimeout only works while a handler runs (fnrun cancels pending timers when the invocation ends)');
    if (typeof fn !== 'function') throw new TypeError('setTimeout: the callback must be a function');
    if (timers.size >= MAX_TIMERS) throw new RangeError(`setTimeout: more than ${MAX_TIMERS} pending timers`);
    let delay = Number(ms);
    if (!(delay >= 0)) delay = 0;
    if (delay > 2147483647) delay = 2147483647;
    const id = ++seq;
    timers.set(id, { owner, fn: fn as (...a: unknown[]) => void, args });
    (owner.timers ??= new Set()).add(id);
    sleep.apply(undefined, [id, delay], SLEEP_OPTS).then(() => fire(id), noop);
    return id;
  }

  function clearTimeout(id: unknown): void {
    const t = timers.get(id as number);
    if (t === undefined) return;
    timers.delete(id as number);
    t.owner.timers?.delete(id as number);
    cancelTimer(id as number);
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

  return function end(owner: T): void {
    if (owner.timers === null) return;
    for (const id of owner.timers) {
      timers.delete(id);
      cancelTimer(id);
    }
    owner.timers = null;
  };
}
