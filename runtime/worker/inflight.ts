/**
 * Counts invocations in flight per sandbox id, so an old function version is unloaded only after
 * its last batch finished: a reload never cuts an invocation short.
 */
export class InflightTracker {
  private readonly counts = new Map<string, number>();
  private readonly idleWaiters = new Map<string, (() => void)[]>();

  enter(id: string): void {
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
  }

  leave(id: string): void {
    const n = (this.counts.get(id) ?? 1) - 1;
    if (n > 0) {
      this.counts.set(id, n);
      return;
    }
    this.counts.delete(id);
    const waiters = this.idleWaiters.get(id);
    this.idleWaiters.delete(id);
    if (waiters) for (const w of waiters) w();
  }

  /** Resolves once nothing runs on `id`. */
  idle(id: string): Promise<void> {
    if (!this.counts.has(id)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.idleWaiters.get(id) ?? [];
      list.push(resolve);
      this.idleWaiters.set(id, list);
    });
  }
}
