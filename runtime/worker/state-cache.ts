/**
 * Per-key state of the keys a worker is working on: loaded from Redis when a key's run starts (or
 * when a handler first asks), then kept up to date in memory with the writes of each completed
 * event, so the key's next event sees them before their commit has landed. An entry lives while
 * its key has a run out or writes not yet committed; this worker is the only writer of its
 * partition's state for its functions while it holds the lease, so nothing is cached across owners.
 *
 * Loads of one turn of the event loop go to Redis in one pipeline.
 */

/** Reads state hashes (HGETALL each), in order. */
export type StateLoader = (hashes: readonly string[]) => Promise<Record<string, string>[]>;

interface Entry {
  state: Record<string, string> | null;
  loading: Promise<Record<string, string>> | null;
  users: number;
  uncommitted: number;
}

export class StateCache {
  readonly #load: StateLoader;
  readonly #entries = new Map<string, Entry>();
  #batch: { hashes: string[]; resolve(states: Record<string, string>[]): void; reject(e: Error): void; promise: Promise<Record<string, string>[]> } | null = null;

  constructor(load: StateLoader) {
    this.#load = load;
  }

  /** Entries held now (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  /** Holds `hash` while a run of its key is out (pair with {@link release}); loads nothing yet. */
  hold(hash: string): void {
    this.#entry(hash).users++;
  }

  /** The state of `hash` (held), loading it if needed; do not mutate it. */
  read(hash: string): Promise<Record<string, string>> {
    return this.#state(hash, this.#entry(hash));
  }

  /** The cached state of `hash`, if loaded. */
  peek(hash: string): Record<string, string> | null {
    return this.#entries.get(hash)?.state ?? null;
  }

  /** The run of `hash` ended. */
  release(hash: string): void {
    const e = this.#entries.get(hash);
    if (e === undefined) return;
    e.users--;
    this.#maybeEvict(hash, e);
  }

  /** A completed event wrote `writes`; `committed` resolves once its commit landed (or failed). */
  apply(hash: string, writes: Readonly<Record<string, string | null>>, committed: Promise<unknown>): void {
    const e = this.#entry(hash);
    if (e.state !== null) {
      for (const name of Object.keys(writes)) {
        const v = writes[name];
        if (v === null || v === undefined) delete e.state[name];
        else e.state[name] = v;
      }
    }
    e.uncommitted++;
    const settle = () => {
      e.uncommitted--;
      this.#maybeEvict(hash, e);
    };
    committed.then(settle, settle);
  }

  #entry(hash: string): Entry {
    let e = this.#entries.get(hash);
    if (e === undefined) {
      e = { state: null, loading: null, users: 0, uncommitted: 0 };
      this.#entries.set(hash, e);
    }
    return e;
  }

  #state(hash: string, e: Entry): Promise<Record<string, string>> {
    if (e.state !== null) return Promise.resolve(e.state);
    e.loading ??= this.#queueLoad(hash).then((state) => {
      e.state = state;
      e.loading = null;
      return state;
    }, (error: unknown) => {
      e.loading = null;
      throw error;
    });
    return e.loading;
  }

  #queueLoad(hash: string): Promise<Record<string, string>> {
    if (this.#batch === null) {
      let resolve!: (s: Record<string, string>[]) => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<Record<string, string>[]>((res, rej) => { resolve = res; reject = rej; });
      const batch = { hashes: [] as string[], resolve, reject, promise };
      this.#batch = batch;
      setImmediate(() => {
        this.#batch = null;
        this.#load(batch.hashes).then(batch.resolve, batch.reject);
      });
    }
    const batch = this.#batch;
    const at = batch.hashes.push(hash) - 1;
    return batch.promise.then((states) => ({ ...states[at] }));
  }

  #maybeEvict(hash: string, e: Entry): void {
    if (e.users <= 0 && e.uncommitted <= 0 && e.loading === null && this.#entries.get(hash) === e) this.#entries.delete(hash);
  }
}
