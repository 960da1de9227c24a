/**
 * Prometheus metrics of a runtime (prom-client). Counters are bumped on the hot path through
 * per-function children cached on first use (no label hashing per event); lag and pending are
 * read from Redis when scraped, for the partitions this process owns.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { InvocationRecord } from '../loading/function-handle.ts';

/** Where scrape-time gauges come from; the runtime provides it. */
export interface MetricsSource {
  /** Lag and pending per (function, partition) of the partitions owned now. */
  groupStats(): Promise<{ fn: string; partition: number; lag: number | null; pending: number }[]>;
  /** RSS of the sandbox process and heap in use per function, bytes (null when not running). */
  sandboxMemory(): Promise<{ rssBytes: number; heapUsedBytes: Record<string, number> } | null>;
}

type Status = InvocationRecord['status'];

export class RuntimeMetrics {
  readonly registry = new Registry();
  private readonly invocations: Counter<'function' | 'status'>;
  private readonly errors: Counter<'function' | 'kind'>;
  private readonly deadLetters: Counter<'function' | 'reason'>;
  private readonly duration: Histogram<'function'>;
  private readonly cache = new Map<string, { ok: { inc(): void }; duration: { observe(value: number): void } }>();
  private source: MetricsSource | null = null;

  constructor() {
    const registers = [this.registry];
    this.invocations = new Counter({ name: 'fnrun_invocations_total', help: 'Invocation outcomes by function and status (ok, retry, dead-lettered, dropped).', labelNames: ['function', 'status'], registers });
    this.errors = new Counter({ name: 'fnrun_invocation_errors_total', help: 'Failed attempts by function and kind (handler, timeout, memory, crash).', labelNames: ['function', 'kind'], registers });
    this.deadLetters = new Counter({ name: 'fnrun_dead_letters_total', help: 'Events moved to a dead-letter queue, by function and reason.', labelNames: ['function', 'reason'], registers });
    this.duration = new Histogram({
      name: 'fnrun_invocation_duration_seconds', help: 'Handler run time per invocation.', labelNames: ['function'], registers,
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    });
    // Gauges are filled when scraped: one Redis round trip per scrape, none per event.
    let collecting: Promise<void> | null = null;
    const collect = () => (collecting ??= this.collect().finally(() => { collecting = null; }));
    const lag: Gauge<'function' | 'partition'> = new Gauge({ name: 'fnrun_lag_events', help: 'Events not yet delivered to the function, per owned partition (XINFO GROUPS lag).', labelNames: ['function', 'partition'], registers, collect });
    const pending: Gauge<'function' | 'partition'> = new Gauge({ name: 'fnrun_pending_events', help: 'Events delivered but not yet settled, per owned partition.', labelNames: ['function', 'partition'], registers, collect });
    const rss: Gauge = new Gauge({ name: 'fnrun_sandbox_rss_bytes', help: 'Resident memory of the sandbox process holding the isolates.', registers, collect });
    const heap: Gauge<'function' | 'version'> = new Gauge({ name: 'fnrun_isolate_heap_used_bytes', help: 'Heap in use in each function version\'s isolate.', labelNames: ['function', 'version'], registers, collect });
    this.gauges = { lag, pending, rss, heap };
  }

  private gauges: { lag: Gauge<'function' | 'partition'>; pending: Gauge<'function' | 'partition'>; rss: Gauge; heap: Gauge<'function' | 'version'> } | null = null;

  private async collect(): Promise<void> {
    if (!this.source || !this.gauges) return;
    const { lag, pending, rss, heap } = this.gauges;
    const stats = await this.source.groupStats();
    lag.reset();
    pending.reset();
    for (const s of stats) {
      if (s.lag !== null) lag.labels(s.fn, String(s.partition)).set(s.lag);
      pending.labels(s.fn, String(s.partition)).set(s.pending);
    }
    const memory = await this.source.sandboxMemory();
    heap.reset();
    if (memory === null) return;
    rss.set(memory.rssBytes);
    for (const [id, used] of Object.entries(memory.heapUsedBytes)) {
      // Sandbox ids are `<function>@<version>#<load>`.
      const at = id.indexOf('@');
      const hash = id.indexOf('#', at);
      if (at > 0) heap.labels(id.slice(0, at), id.slice(at + 1, hash < 0 ? undefined : hash)).set(used);
    }
  }

  /** Connects the scrape-time gauges to a running runtime. */
  attach(source: MetricsSource): void {
    this.source = source;
  }

  /** Records one outcome; called on the hot path. */
  record(r: InvocationRecord): void {
    let c = this.cache.get(r.function);
    if (c === undefined) {
      c = { ok: this.invocations.labels(r.function, 'ok'), duration: this.duration.labels(r.function) };
      this.cache.set(r.function, c);
    }
    c.duration.observe(r.durationMs / 1000);
    if (r.status === 'ok') {
      c.ok.inc();
      return;
    }
    this.invocations.labels(r.function, r.status as Status).inc();
    if (r.error) this.errors.labels(r.function, r.error.kind).inc();
    if (r.status === 'dead-lettered') this.deadLetters.labels(r.function, deadLetterReason(r)).inc();
  }
}

function deadLetterReason(r: InvocationRecord): string {
  if (r.error?.name === 'MalformedEvent') return 'malformed';
  if (r.error?.name === 'EventExpired') return 'expired';
  return 'failed';
}
