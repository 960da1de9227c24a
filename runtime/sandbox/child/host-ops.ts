/**
 * Host operations an isolate started (child side): timers, state reads, and later network requests.
 * Each one belongs to a chain; when it completes, the isolate is resumed with a call that has the
 * function's timeout, so the continuation it runs is bounded like any other entry. An operation
 * whose invocation ended (or whose isolate died) is cancelled and never resumes anything.
 */
import type { FetchAnswer } from './fetch-bridge.ts';
import type { IsolateInstance } from './isolate-instance.ts';

/** One operation in progress. */
interface Pending {
  cid: number;
  cancel(): void;
}

/** What the operations need from their sandbox. */
export interface HostOpsDeps {
  /** Resumes operation `id` in `instance` with its outcome (`payload`: JSON text; `bytes` for a fetch). */
  resume(instance: IsolateInstance, id: number, ok: boolean, payload: string, bytes?: ArrayBuffer): void;
  /** The state of event key `key` in chain `cid`, as JSON text (`{ name: jsonText }`), from the parent. */
  readState(cid: number, key: string): Promise<string>;
  /** Runs a request of chain `cid`'s running invocation; aborted with `signal`. */
  fetch(cid: number, json: string, body: ArrayBuffer | null, signal: AbortSignal): Promise<FetchAnswer>;
}

const MAX_SLEEP_MS = 2_147_483_647;

export class HostOps {
  readonly #deps: HostOpsDeps;
  readonly #pending = new Map<IsolateInstance, Map<number, Pending>>();

  constructor(deps: HostOpsDeps) {
    this.#deps = deps;
  }

  start(instance: IsolateInstance, id: number, cid: number, kind: string, arg: string, bytes?: ArrayBuffer): void {
    let ops = this.#pending.get(instance);
    if (ops === undefined) this.#pending.set(instance, (ops = new Map()));
    const done = (ok: boolean, payload: string, body?: ArrayBuffer) => {
      if (ops.get(id) !== pending) return;
      ops.delete(id);
      this.#deps.resume(instance, id, ok, payload, body);
    };
    let pending: Pending;
    switch (kind) {
      case 'sleep': {
        const timer = setTimeout(() => done(true, ''), Math.min(MAX_SLEEP_MS, Math.max(0, Number(arg) || 0)));
        pending = { cid, cancel: () => clearTimeout(timer) };
        break;
      }
      case 'state': {
        pending = { cid, cancel: () => {} };
        this.#deps.readState(cid, arg).then(
          (json) => done(true, json),
          (e: unknown) => done(false, JSON.stringify({ name: 'Error', message: `ctx.state: cannot read the state: ${(e as Error).message}` })),
        );
        break;
      }
      case 'fetch': {
        const controller = new AbortController();
        pending = { cid, cancel: () => controller.abort() };
        // Always answered with bytes (empty on a failure): the shim expects [head, body].
        this.#deps.fetch(cid, arg, bytes ?? null, controller.signal).then((a) => done(true, a.head, a.body ?? new ArrayBuffer(0)));
        break;
      }
      default:
        pending = { cid, cancel: () => {} };
        queueMicrotask(() => done(false, JSON.stringify({ name: 'TypeError', message: `unknown host operation ${JSON.stringify(kind)}` })));
    }
    ops.set(id, pending);
  }

  /** The isolate cancelled it (its invocation ended, clearTimeout …). */
  cancel(instance: IsolateInstance, id: number): void {
    const ops = this.#pending.get(instance);
    const op = ops?.get(id);
    if (op === undefined) return;
    ops!.delete(id);
    op.cancel();
  }

  /** Cancels every operation of chain `cid` (it ended without the isolate saying so: its isolate died, or it was cut). */
  cancelChain(instance: IsolateInstance, cid: number): void {
    const ops = this.#pending.get(instance);
    if (ops === undefined) return;
    for (const [id, op] of ops) {
      if (op.cid !== cid) continue;
      ops.delete(id);
      op.cancel();
    }
  }

  /** Cancels everything of a dead or disposed isolate. */
  forget(instance: IsolateInstance): void {
    const ops = this.#pending.get(instance);
    this.#pending.delete(instance);
    if (ops !== undefined) for (const op of ops.values()) op.cancel();
  }
}
