/**
 * Prometheus metrics of a runtime (prom-client). Counters are bumped on the hot path through
 * per-function children cached on first use (no label hashing per event); lag and pending are
 * read from Redis when scraped, for the partitions this process owns.
 *
 * A scrape never waits long on Redis: what Redis must answer is bounded by
 * {@link SCRAPE_REDIS_TIMEOUT_MS}, and while Redis is unreachable a scrape still answers, with the
 * counters, the process metrics and `fnrun_redis_up 0` (lag and pending are left out: unknown).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { PACKAGE_VERSION } from '../package-paths.ts';
import { withDeadline } from '../policy/deadline.ts';
import type { InvocationRecord } from '../loading/function-handle.ts';
import type { FetchRecord } from '../types.ts';
import type { GroupStat } from './group-stats.ts';

/** Where scrape-time gauges come from; the runtime provides it. */
export interface MetricsSource {
  /** Lag and pending per (function, partition) of the partitions owned now. */
  groupStats(): Promise<GroupStat[]>;
  /** RSS of the sandbox process and heap in use per function, bytes (null when not running). */
  sandboxMemory(): Promise<{ rssBytes: number; heapUsedBytes: Record<string, number> } | null>;
}

/**
 * What the metrics read from a runtime at scrape time (a {@link Runtime} is one): its functions,
 * whose series exist at zero from the start; the partitions it owns; whether Redis answers.
 */
export interface RuntimeView {
  readonly functions: readonly { readonly name: string }[];
  readonly ownedPartitions: readonly number[];
  /** Bytes read ahead and not yet settled by all its workers, and their bound. */
  readonly readAhead: { readonly bytes: number; readonly limit: number };
  /** Why the runtime cannot work now (Redis does not answer a PING…), or null. */
  notReady(): Promise<string | null>;
}

/** Longest a scrape waits for each answer that needs Redis or the sandbox. */
export const SCRAPE_REDIS_TIMEOUT_MS = 500;

/** Up to the largest allowed `timeoutMs` (300 s). */
const DURATION_BUCKETS_S = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const STATUSES = ['ok', 'retry', 'dead-lettered', 'dropped'] as const;
const ERROR_KINDS = ['handler', 'non-retriable', 'timeout', 'memory', 'crash'] as const;
const DEAD_LETTER_REASONS = ['failed', 'non-retriable', 'expired', 'loop', 'malformed'] as const;
/** The `host` label of a fetch no `network.allow` entry allowed (its host is not a bounded label). */
export const FETCH_REFUSED_HOST = '(refused)';

type Status = InvocationRecord['status'];

interface Gauges {
  lag: Gauge<'function' | 'partition'>;
  pending: Gauge<'function' | 'partition'>;
  rss: Gauge;
  heap: Gauge<'function' | 'version'>;
  redisUp: Gauge;
  owned: Gauge;
  readAhead: Gauge;
  readAheadLimit: Gauge;
}

export class RuntimeMetrics {
  readonly registry = new Registry();
  private readonly invocations: Counter<'function' | 'status'>;
  private readonly errors: Counter<'function' | 'kind'>;
  private readonly deadLetters: Counter<'function' | 'reason'>;
  private readonly duration: Histogram<'function'>;
  private readonly cache = new Map<string, { ok: { inc(): void }; duration: { observe(value: number): void } }>();
  private readonly fetches: Counter<'function' | 'host' | 'status'>;
  private readonly fetchDuration: Histogram<'function' | 'host'>;
  /** Children per (function, rule, status): fetches are few next to invocations, but not rare. */
  private readonly fetchCache = new Map<string, { count: { inc(): void }; duration: { observe(value: number): void } }>();
  private readonly gauges: Gauges;
  private readonly zeroed = new Set<string>();
  private source: MetricsSource | null = null;
  private view: RuntimeView | null = null;
  /** The Redis reads of the last scrape, while they run: a scrape during an outage does not add another. */
  private stats: Promise<GroupStat[]> | null = null;

  constructor() {
    const registers = [this.registry];
    // Gauges are filled when scraped: one Redis round trip per scrape, none per event. The first
    // metric collects too, so that a new function's zero series are there at the first scrape.
    let collecting: Promise<void> | null = null;
    const collect = () => (collecting ??= this.collect().finally(() => { collecting = null; }));
    this.invocations = new Counter({ name: 'fnrun_invocations_total', help: 'Invocation outcomes by function and status (ok, retry, dead-lettered, dropped).', labelNames: ['function', 'status'], registers, collect });
    this.errors = new Counter({ name: 'fnrun_invocation_errors_total', help: 'Failed attempts by function and kind (handler, non-retriable, timeout, memory, crash).', labelNames: ['function', 'kind'], registers });
    this.deadLetters = new Counter({ name: 'fnrun_dead_letters_total', help: 'Events moved to a dead-letter queue, by function and reason (failed, non-retriable, expired, loop, malformed).', labelNames: ['function', 'reason'], registers });
    this.duration = new Histogram({
      name: 'fnrun_invocation_duration_seconds', help: 'Handler run time per invocation.', labelNames: ['function'], registers, buckets: DURATION_BUCKETS_S,
    });
    this.fetches = new Counter({
      name: 'fnrun_fetch_requests_total', labelNames: ['function', 'host', 'status'], registers,
      help: `Outbound fetches by function, host (the network.allow entry that allowed it, or ${FETCH_REFUSED_HOST}) and status (the final HTTP status, or why it failed: refused, timeout, aborted, too-large, dns, network, redirect, invalid).`,
    });
    this.fetchDuration = new Histogram({
      name: 'fnrun_fetch_duration_seconds', help: 'Outbound fetch time (DNS, waiting for a slot, every redirect hop, the body) by function and host (network.allow entry).',
      labelNames: ['function', 'host'], registers, buckets: DURATION_BUCKETS_S,
    });
    this.gauges = {
      lag: new Gauge({ name: 'fnrun_lag_events', help: 'Events not yet delivered to the function, per owned partition (XINFO GROUPS lag).', labelNames: ['function', 'partition'], registers, collect }),
      pending: new Gauge({ name: 'fnrun_pending_events', help: 'Events delivered but not yet settled, per owned partition.', labelNames: ['function', 'partition'], registers, collect }),
      rss: new Gauge({ name: 'fnrun_sandbox_rss_bytes', help: 'Resident memory of the sandbox process holding the isolates.', registers, collect }),
      heap: new Gauge({ name: 'fnrun_isolate_heap_used_bytes', help: 'Heap in use in each function version\'s isolate.', labelNames: ['function', 'version'], registers, collect }),
      redisUp: new Gauge({ name: 'fnrun_redis_up', help: `1 when Redis answered within ${SCRAPE_REDIS_TIMEOUT_MS} ms at this scrape, else 0 (lag and pending are then left out).`, registers, collect }),
      owned: new Gauge({ name: 'fnrun_owned_partitions', help: 'Partitions this process works on now.', registers, collect }),
      readAhead: new Gauge({ name: 'fnrun_read_ahead_bytes', help: 'Entries read and not yet settled by all workers of the process (the characters of data, key and headers, plus 64 each): at fnrun_read_ahead_limit_bytes, workers holding a batch or 64 KiB pause reading.', registers, collect }),
      readAheadLimit: new Gauge({ name: 'fnrun_read_ahead_limit_bytes', help: 'maxBufferedBytesPerProcess: the bound on fnrun_read_ahead_bytes.', registers, collect }),
    };
    new Gauge({ name: 'fnrun_build_info', help: 'The fnrun and Node.js versions of this process (value 1).', labelNames: ['version', 'nodejs'], registers })
      .labels(PACKAGE_VERSION, process.versions.node).set(1);
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters (promtool flags them); the same counts by type remain.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
  }

  /** Connects the scrape-time gauges to a running runtime. */
  attach(source: MetricsSource): void {
    this.source = source;
  }

  /** Reads functions, owned partitions and Redis' health from `view` at every scrape. */
  observe(view: RuntimeView): void {
    this.view = view;
  }

  /** Records one outcome; called on the hot path. */
  record(r: InvocationRecord): void {
    let c = this.cache.get(r.function);
    if (c === undefined) {
      c = { ok: this.invocations.labels(r.function, 'ok'), duration: this.duration.labels(r.function) };
      this.cache.set(r.function, c);
    }
    c.duration.observe(r.durationMs / 1000);
    if (r.fetches !== undefined) for (const f of r.fetches) this.recordFetch(r.function, f);
    if (r.status === 'ok') {
      c.ok.inc();
      return;
    }
    this.invocations.labels(r.function, r.status as Status).inc();
    if (r.error) this.errors.labels(r.function, r.error.kind).inc();
    if (r.status === 'dead-lettered') this.deadLetters.labels(r.function, deadLetterReason(r)).inc();
  }

  private recordFetch(fn: string, f: FetchRecord): void {
    const host = f.rule ?? FETCH_REFUSED_HOST;
    const status = f.status !== null ? String(f.status) : (f.error ?? 'network');
    const id = `${fn}\n${host}\n${status}`;
    let c = this.fetchCache.get(id);
    if (c === undefined) {
      c = { count: this.fetches.labels(fn, host, status), duration: this.fetchDuration.labels(fn, host) };
      this.fetchCache.set(id, c);
    }
    c.count.inc();
    c.duration.observe(f.durationMs / 1000);
  }

  private async collect(): Promise<void> {
    const { lag, pending, rss, heap, redisUp, owned, readAhead, readAheadLimit } = this.gauges;
    const view = this.view;
    if (view !== null) {
      owned.set(view.ownedPartitions.length);
      readAhead.set(view.readAhead.bytes);
      readAheadLimit.set(view.readAhead.limit);
      for (const fn of view.functions) this.zero(fn.name);
    }
    const source = this.source;
    if (source === null) return;
    const stats = (this.stats ??= source.groupStats().finally(() => { this.stats = null; }));
    const [groups, memory, ready] = await Promise.all([
      within(stats),
      within(source.sandboxMemory()),
      view === null ? Promise.resolve(undefined) : within(view.notReady()),
    ]);
    lag.reset();
    pending.reset();
    const up = groups !== undefined && (view === null || ready === null);
    redisUp.set(up ? 1 : 0);
    for (const s of groups ?? []) {
      if (s.lag !== null) lag.labels(s.fn, String(s.partition)).set(s.lag);
      pending.labels(s.fn, String(s.partition)).set(s.pending);
    }
    heap.reset();
    if (memory === undefined || memory === null) return;
    rss.set(memory.rssBytes);
    for (const [id, used] of Object.entries(memory.heapUsedBytes)) {
      // Sandbox ids are `<function>@<version>#<load>`.
      const at = id.indexOf('@');
      const hash = id.indexOf('#', at);
      if (at > 0) heap.labels(id.slice(0, at), id.slice(at + 1, hash < 0 ? undefined : hash)).set(used);
    }
  }

  /** Creates every series of `fn` at zero, so that rates and alerts work before its first event. */
  private zero(fn: string): void {
    if (this.zeroed.has(fn)) return;
    this.zeroed.add(fn);
    for (const status of STATUSES) this.invocations.inc({ function: fn, status }, 0);
    for (const kind of ERROR_KINDS) this.errors.inc({ function: fn, kind }, 0);
    for (const reason of DEAD_LETTER_REASONS) this.deadLetters.inc({ function: fn, reason }, 0);
    // zero() would reset a histogram that already has observations (record() caches it first).
    if (!this.cache.has(fn)) this.duration.zero({ function: fn });
  }
}

/** `work`'s value, or undefined when it fails or takes longer than {@link SCRAPE_REDIS_TIMEOUT_MS}. */
function within<T>(work: Promise<T>): Promise<T | undefined> {
  return withDeadline(work.catch(() => undefined), SCRAPE_REDIS_TIMEOUT_MS, () => undefined);
}

function deadLetterReason(r: InvocationRecord): string {
  if (r.reason !== undefined) return r.reason;
  if (r.error?.name === 'MalformedEvent') return 'malformed';
  if (r.error?.name === 'EventExpired') return 'expired';
  return 'failed';
}

/**
 * The one observer of invocation outcomes: `metrics` records first, then `onInvocation` (either
 * may be absent). Composed once, so the hot path makes one call and no allocation for it.
 */
export function composeObservers(onInvocation: ((r: InvocationRecord) => void) | undefined, metrics: RuntimeMetrics | undefined): ((r: InvocationRecord) => void) | undefined {
  if (!metrics) return onInvocation;
  if (!onInvocation) return (r) => metrics.record(r);
  return (r) => {
    metrics.record(r);
    onInvocation(r);
  };
}
