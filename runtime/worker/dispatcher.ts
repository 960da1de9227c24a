/**
 * Hands chains to the sandbox, at most `concurrency` of each function in flight in this process
 * (the manifest's, across all its partitions); the others wait their turn in arrival order.
 * The sandbox host batches every chain handed to it in one turn of the event loop into one message.
 */
import type { ChainRequest } from '../sandbox/host/host.ts';
import type { FunctionHandle } from '../loading/function-handle.ts';
import type { InvocationResult } from '../types.ts';

/** What the dispatcher needs of the sandbox (the host's `run`). */
export interface ChainRunner {
  run(req: ChainRequest): void;
}

/** One chain: the items JSON, and where its results go. */
export interface ChainJob {
  items: string;
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

  constructor(sandbox: ChainRunner) {
    this.#sandbox = sandbox;
  }

  /** Chains of `name` in flight now. */
  inflight(name: string): number {
    return this.#slots.get(name)?.inflight ?? 0;
  }

  /** Runs `job` on `fn` once a slot is free; resolves after its last result. */
  async run(fn: FunctionHandle, job: ChainJob): Promise<void> {
    const slots = this.#slotsOf(fn.name);
    // A freed slot is handed straight to the next waiter, so nobody can slip in between.
    if (slots.inflight >= fn.manifest.concurrency) await new Promise<void>((resolve) => slots.waiting.push(resolve));
    else slots.inflight++;
    try {
      await new Promise<void>((resolve) => {
        let left = job.count;
        this.#sandbox.run({
          fnId: fn.sandboxId, items: job.items, count: job.count, state: job.state, exclusive: job.exclusive,
          timeoutMs: fn.manifest.timeoutMs, readState: job.readState,
          onResult: (i, r) => {
            job.onResult(i, r);
            if (--left === 0) resolve();
          },
        });
      });
    } finally {
      const next = slots.waiting.shift();
      if (next !== undefined) next();
      else if (--slots.inflight === 0) this.#slots.delete(fn.name);
    }
  }

  #slotsOf(name: string): Slots {
    let s = this.#slots.get(name);
    if (s === undefined) this.#slots.set(name, (s = { inflight: 0, waiting: [] }));
    return s;
  }
}
