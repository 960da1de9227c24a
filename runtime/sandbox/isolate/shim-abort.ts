/**
 * AbortController and AbortSignal inside the isolate (the DOM shapes fetch takes): `abort(reason)`,
 * `aborted`, `reason`, `throwIfAborted()`, `onabort`, `addEventListener('abort', fn, { once })`,
 * and `AbortSignal.abort(reason)`, `AbortSignal.timeout(ms)`, `AbortSignal.any(signals)`.
 * A throwing abort listener fails the running invocation, as a throwing timer callback does.
 *
 * Runs INSIDE the isolate: shipped as source, so it must stay self-contained. Expects
 * `DOMException` (shim-web.ts) and `setTimeout` (shim-timers.ts) to be installed first.
 */

/** Defines AbortController and AbortSignal on `g`. */
export function installAbort<T>(g: Record<string, unknown>, current: () => T | null, fail: (owner: T, e: unknown) => void): void {
  const DOMExceptionCtor = g.DOMException as new (message: string, name: string) => Error;
  const setTimeoutFn = g.setTimeout as (fn: () => void, ms: number) => unknown;
  const apply = Reflect.apply;
  const KEY = {};
  type Listener = { fn: unknown; once: boolean };
  let create: () => AbortSignal;
  let signalAbort: (signal: AbortSignal, reason: unknown) => void;

  class AbortSignal {
    #aborted = false;
    #reason: unknown = undefined;
    #listeners: Listener[] = [];
    onabort: unknown = null;
    constructor(key?: unknown) {
      if (key !== KEY) throw new TypeError('Illegal constructor: use new AbortController().signal, AbortSignal.abort() or AbortSignal.timeout()');
    }
    get aborted(): boolean {
      return this.#aborted;
    }
    get reason(): unknown {
      return this.#reason;
    }
    throwIfAborted(): void {
      if (this.#aborted) throw this.#reason;
    }
    addEventListener(type: unknown, fn: unknown, options?: unknown): void {
      if (String(type) !== 'abort' || (typeof fn !== 'function' && (typeof fn !== 'object' || fn === null))) return;
      if (this.#listeners.some((l) => l.fn === fn)) return;
      const once = typeof options === 'object' && options !== null && Boolean((options as { once?: unknown }).once);
      this.#listeners.push({ fn, once });
    }
    removeEventListener(type: unknown, fn: unknown): void {
      if (String(type) !== 'abort') return;
      this.#listeners = this.#listeners.filter((l) => l.fn !== fn);
    }
    dispatchEvent(event: unknown): boolean {
      if (typeof event === 'object' && event !== null && (event as { type?: unknown }).type === 'abort') this.#dispatch();
      return true;
    }
    #dispatch(): void {
      const event = Object.freeze({ type: 'abort', target: this, currentTarget: this, isTrusted: true, bubbles: false, cancelable: false, defaultPrevented: false });
      const listeners = this.#listeners;
      this.#listeners = listeners.filter((l) => !l.once);
      const call = (fn: unknown): void => {
        try {
          if (typeof fn === 'function') apply(fn, this, [event]);
          else if (typeof fn === 'object' && fn !== null && typeof (fn as { handleEvent?: unknown }).handleEvent === 'function') {
            apply((fn as { handleEvent: () => void }).handleEvent, fn, [event]);
          }
        } catch (e) {
          const owner = current();
          if (owner !== null) fail(owner, e);
        }
      };
      call(this.onabort);
      for (const l of listeners) call(l.fn);
    }
    static abort(reason?: unknown): AbortSignal {
      const s = create();
      signalAbort(s, reason);
      return s;
    }
    static timeout(ms: unknown): AbortSignal {
      const delay = Number(ms);
      if (!(delay >= 0) || delay > Number.MAX_SAFE_INTEGER) throw new TypeError('AbortSignal.timeout: ms must be a non-negative number');
      const s = create();
      setTimeoutFn(() => signalAbort(s, new DOMExceptionCtor('The operation was aborted due to timeout', 'TimeoutError')), delay);
      return s;
    }
    static any(signals: unknown): AbortSignal {
      const s = create();
      const list = [...(signals as Iterable<unknown>)];
      for (const x of list) if (!(x instanceof AbortSignal)) throw new TypeError('AbortSignal.any: every item must be an AbortSignal');
      for (const x of list as AbortSignal[]) {
        if (x.aborted) {
          signalAbort(s, x.reason);
          return s;
        }
      }
      for (const x of list as AbortSignal[]) x.addEventListener('abort', () => signalAbort(s, x.reason), { once: true });
      return s;
    }
    static {
      create = () => new AbortSignal(KEY);
      signalAbort = (s, reason) => {
        if (s.#aborted) return;
        s.#aborted = true;
        s.#reason = reason === undefined ? new DOMExceptionCtor('This operation was aborted', 'AbortError') : reason;
        s.#dispatch();
      };
    }
  }

  class AbortController {
    readonly #signal = create();
    get signal(): AbortSignal {
      return this.#signal;
    }
    abort(reason?: unknown): void {
      signalAbort(this.#signal, reason);
    }
  }

  for (const [name, value] of [
    ['AbortSignal', AbortSignal],
    ['AbortController', AbortController],
  ] as const) {
    Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
  }
}
