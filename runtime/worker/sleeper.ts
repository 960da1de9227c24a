/** Timers a worker waits on (retry backoffs, error backoffs), all woken at once when it stops. */
export class Sleeper {
  readonly #sleeping = new Set<() => void>();
  #stopped = false;

  /** Resolves true after `ms`, or false at once once {@link wakeAll} was called. */
  sleep(ms: number): Promise<boolean> {
    if (this.#stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleeping.delete(wake);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.#sleeping.delete(wake);
        resolve(!this.#stopped);
      }, ms);
      this.#sleeping.add(wake);
    });
  }

  /** Wakes every sleeper (with false), now and from now on. */
  wakeAll(): void {
    this.#stopped = true;
    for (const wake of [...this.#sleeping]) wake();
  }
}
