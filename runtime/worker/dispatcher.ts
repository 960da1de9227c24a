/**
 * Hands chains to the sandbox, at most `concurrency` of each function in flight in this process
 * (the manifest's, across all its partitions); the others wait their turn in arrival order.
 * The sandbox host batches every chain handed to it in one turn of the event loop into one message.
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
  waiting: (() => void)[];
}

export class Dispatcher {
  readonly #sandbox: ChainRunner;
  readonly #slots = new Map<string, Slots>();
  readonly #versions = new InflightTracker();

  constructor(sandbox: ChainRunner) {
    this.#sandbox = sandbox;
  }

  /** Chains of `name` in flight now. */
  inflight(name: string): number {
    return this.#slots.get(name)?.inflight ?? 0;
  }

  /** Resolves once no chain runs on `sandboxId` (its version can be unloaded). */
  idle(sandboxId: string): Promise<void> {
    return this.#versions.idle(sandboxId);
  }

  /** Runs `job` on `fn` once a slot is free; resolves after its last result (rejects if the sandbox refused it). */
  run(fn: FunctionHandle, job: ChainJob): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const slots = this.#slotsOf(fn.name);
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
    if (next !== undefined) next();
    else if (--slots.inflight === 0) this.#slots.delete(name);
  }

  #slotsOf(name: string): Slots {
    let s = this.#slots.get(name);
    if (s === undefined) this.#slots.set(name, (s = { inflight: 0, waiting: [] }));
    return s;
  }
}
