/**
 * Hands chains to the sandbox, at most `concurrency` of each function in flight in this process
 * (the manifest's, across all its partitions); the others wait their turn in arrival order.
 * The sandbox host batches every chain handed to it in one turn of the event loop into one message.
 *
 * Partition workers take a key's run only when its function has a free slot ({@link Dispatcher.hasRoom},
 * {@link Dispatcher.whenRoom}): a run taken when it can start holds every event its key has queued by
 * then, where one taken early and left waiting for a slot would hold only those queued at that
 * moment, and the key's later events would make another, shorter run. Draining a backlog (16
 * partitions, 1,000 keys, `concurrency` 100), about 900 runs waited, chains averaged 7.5 events, and
 * the per-chain costs (IPC, bookkeeping) were a large part of the main process's time.
 *
 * It also counts the chains in flight per sandbox id, so that an old function version is unloaded
 * only after its last chain is over: a reload never cuts an invocation short.
 *
 * On the hot path: one promise per chain, and no other allocation than the request itself.
 */
import type { ChainRequest } from '../sandbox/host/host.ts';
import type { FunctionHandle } from '../loading/function-handle.ts';
import type { InvocationResult } from '../types.ts';
import { InflightTracker } from './inflight.ts';

/** What the dispatcher needs of the sandbox (the host's `run`). */
export interface ChainRunner {
  run(req: ChainRequest): void;
}

/** One chain: its items JSON, and where its results go. */
export interface ChainJob {
  /**
   * Builds the items JSON, called once the chain has a slot: a chain waiting its turn (hundreds do,
   * in a backlog) holds no text, only what it is made from. Measured draining a backlog: the
   * waiting chains' prebuilt texts were about 4.5 MB of concatenated strings that every scavenge copied.
   */
  items(): string;
  count: number;
  state: string | null;
  exclusive: boolean;
  onResult(index: number, result: InvocationResult): void;
  readState(key: string): Promise<string>;
}

interface Slots {
  inflight: number;
  /** The function's `concurrency` as of its last chain handed in, or its last {@link Dispatcher.whenRoom}. */
  limit: number;
  waiting: (() => void)[];
}

export class Dispatcher {
  readonly #sandbox: ChainRunner;
  readonly #slots = new Map<string, Slots>();
  readonly #versions = new InflightTracker();
  /** Per function name, who asked to hear of the next free slot (see {@link whenRoom}), in order. */
  readonly #room = new Map<string, (() => void)[]>();

  constructor(sandbox: ChainRunner) {
    this.#sandbox = sandbox;
  }

  /** Chains of `name` in flight now. */
  inflight(name: string): number {
    return this.#slots.get(name)?.inflight ?? 0;
  }

  /** True when a chain of `fn` handed in now would start at once: a free slot, and no chain waiting for one. */
  hasRoom(fn: FunctionHandle): boolean {
    const s = this.#slots.get(fn.name);
    return s === undefined || (s.waiting.length === 0 && s.inflight < fn.manifest.concurrency);
  }

  /**
   * Calls `wake` once, when a slot of function `fn` is free and no chain waits for it. Those
   * asking are woken in order, each while the slot is still free: one that takes nothing (it had
   * nothing ready) leaves it to the next. Returns what takes the request back (a worker that stops).
   */
  whenRoom(fn: FunctionHandle, wake: () => void): () => void {
    const name = fn.name;
    let list = this.#room.get(name);
    if (list === undefined) this.#room.set(name, (list = [wake]));
    else list.push(wake);
    const asked = list;
    // Asked while a slot is free, nothing might ever free one: offer it now (not from inside the
    // caller, which is still deciding what to take).
    const s = this.#slots.get(name);
    if (s !== undefined) s.limit = fn.manifest.concurrency; // a reload may have changed it: judged as hasRoom does
    if (s === undefined || (s.waiting.length === 0 && s.inflight < s.limit)) queueMicrotask(() => this.#offerRoom(name));
    return () => {
      const i = asked.indexOf(wake);
      if (i >= 0) asked.splice(i, 1);
      if (asked.length === 0 && this.#room.get(name) === asked) this.#room.delete(name);
    };
  }

  /** Resolves once no chain runs on `sandboxId` (its version can be unloaded). */
  idle(sandboxId: string): Promise<void> {
    return this.#versions.idle(sandboxId);
  }

  /** Runs `job` on `fn` once a slot is free; resolves after its last result (rejects if the sandbox refused it). */
  run(fn: FunctionHandle, job: ChainJob): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const slots = this.#slotsOf(fn.name);
      slots.limit = fn.manifest.concurrency;
      const start = () => {
        const id = fn.sandboxId;
        // The version in use stays loaded until its chain is over; a reload swaps it in for the next chain.
        this.#versions.enter(id);
        let left = job.count;
        const end = () => {
          this.#versions.leave(id);
          this.#free(fn.name, slots);
        };
        try {
          this.#sandbox.run({
            fnId: id, items: job.items(), count: job.count, state: job.state, exclusive: job.exclusive,
            timeoutMs: fn.manifest.timeoutMs, readState: job.readState,
            onResult: (i, r) => {
              const last = --left === 0;
              try {
                job.onResult(i, r);
              } finally {
                if (last) {
                  end();
                  resolve();
                }
              }
            },
          });
        } catch (error) {
          end();
          reject(error as Error);
        }
      };
      // A freed slot is handed straight to the next waiter, so nobody can slip in between.
      if (slots.inflight >= fn.manifest.concurrency) slots.waiting.push(start);
      else {
        slots.inflight++;
        start();
      }
    });
  }

  #free(name: string, slots: Slots): void {
    const next = slots.waiting.shift();
    if (next !== undefined) return next();
    if (--slots.inflight === 0) this.#slots.delete(name);
    this.#offerRoom(name);
  }

  /** Wakes those waiting for room on `name`, in order, while a slot stays free. */
  #offerRoom(name: string): void {
    const list = this.#room.get(name);
    while (list !== undefined && list.length > 0) {
      const s = this.#slots.get(name);
      if (s !== undefined && (s.waiting.length > 0 || s.inflight >= s.limit)) return;
      list.shift()!();
    }
    if (list !== undefined && list.length === 0 && this.#room.get(name) === list) this.#room.delete(name);
  }

  #slotsOf(name: string): Slots {
    let s = this.#slots.get(name);
    if (s === undefined) this.#slots.set(name, (s = { inflight: 0, limit: 1, waiting: [] }));
    return s;
  }
}
