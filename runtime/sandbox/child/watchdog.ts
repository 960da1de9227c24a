/**
 * The child's watchdog. isolated-vm's `timeout` covers one call, not an event that loops after an
 * awaited host promise, and `memoryLimit` is a guideline that large single allocations overshoot;
 * so on every tick it checks, per running call:
 * - wall time of the current event (the shim writes its index and start into shared memory)
 *   against `timeoutMs`, and disposes the isolate on overrun;
 * - heap statistics (sampled asynchronously, they answer only when the isolate is between tasks);
 * - growth of the process RSS, the only signal while V8 is stuck in one huge allocation;
 * - calls that do not settle after their isolate was disposed: wedged, only killing the process
 *   frees the thread, so it reports the culprit and lets the child die.
 * It also disposes idle isolates whose CPU time keeps growing (work detached from an invocation).
 */
import { recordRss } from './rss-sample.ts';
import { LOAD_GRACE_MS, START_GRACE_MS, WATCHDOG_TICK_MS, WEDGE_GRACE_MS, type Culprit } from '../protocol.ts';
import type { Run } from './run.ts';

const MiB = 1024 * 1024;
const SLOW_CHECK_MS = 250;
/** RSS growth the process is always allowed (node heap, IPC buffers, isolate creation). */
const RSS_SLACK_BYTES = 128 * MiB;
/** Growth is measured from the lowest RSS over this window, so slow legitimate growth never adds up. */
const RSS_WINDOW_MS = 2_000;
/** An idle isolate using more CPU than this per slow check runs detached work: recycle it. */
const IDLE_SPIN_NS = 150_000_000n;

/** What the idle-spin check needs from a loaded function. */
export interface IdleSandbox {
  /** Called every slow check; returns CPU ns used by the idle isolate since the last call. */
  idleCpuDeltaNs(): bigint;
  recycle(): void;
}

/** Runs in the child, ticking every WATCHDOG_TICK_MS. */
export class Watchdog {
  readonly #runs = new Set<Run>();
  readonly #fatal: (reason: string, culprit: Culprit | null) => void;
  readonly #idle: () => Iterable<IdleSandbox>;
  readonly #rss: { at: number; bytes: number }[] = [];
  #slowAt = 0;

  constructor(fatal: (reason: string, culprit: Culprit | null) => void, idle: () => Iterable<IdleSandbox>) {
    this.#fatal = fatal;
    this.#idle = idle;
    // Lives as long as the process; unref'd so that it never is what keeps it alive.
    setInterval(() => this.#tick(), WATCHDOG_TICK_MS).unref();
  }

  add(run: Run): void {
    this.#runs.add(run);
  }

  delete(run: Run): void {
    this.#runs.delete(run);
  }

  #tick(): void {
    const now = Date.now();
    const slow = now - this.#slowAt >= SLOW_CHECK_MS;
    if (slow) this.#slowAt = now;
    const rss = process.memoryUsage.rss();
    recordRss(rss);
    for (const run of this.#runs) {
      if (run.killReason !== null) {
        if (now - run.killedAt > WEDGE_GRACE_MS) return this.#wedged(run, rss);
        continue;
      }
      if (run.instance.isolate.isDisposed) {
        // isolated-vm disposed it for the memory limit; the call's rejection normally settles the run first.
        run.kill('memory', `exceeded memoryMb (${run.memoryMb} MiB)`);
        continue;
      }
      const limitMs = run.count === 0 ? run.timeoutMs + LOAD_GRACE_MS : run.started ? run.timeoutMs : run.timeoutMs + START_GRACE_MS;
      if (now - run.eventStartedAt > limitMs) {
        run.kill('timeout', run.count === 0 ? `top-level code exceeded timeoutMs (${run.timeoutMs} ms)` : `exceeded timeoutMs (${run.timeoutMs} ms)`);
      } else if (slow && run.count > 0) this.#sampleHeap(run, now);
    }
    this.#checkRss(rss, now);
    if (slow) {
      for (const sb of this.#idle()) if (sb.idleCpuDeltaNs() > IDLE_SPIN_NS) sb.recycle();
    }
  }

  #sampleHeap(run: Run, now: number): void {
    if (now - run.heapSampleAt < SLOW_CHECK_MS) return;
    run.heapSampleAt = now;
    run.instance.isolate.getHeapStatistics().then(
      (s) => {
        const used = s.used_heap_size + s.externally_allocated_size;
        if (used > run.memoryMb * 2 * MiB) run.kill('memory', `exceeded memoryMb (${run.memoryMb} MiB): heap at ${Math.round(used / MiB)} MiB`);
      },
      () => {}, // the isolate was disposed meanwhile: nothing to sample
    );
  }

  #checkRss(rss: number, now: number): void {
    const samples = this.#rss;
    const last = samples[samples.length - 1];
    if (last === undefined || now - last.at >= SLOW_CHECK_MS) samples.push({ at: now, bytes: rss });
    while (samples.length > 1 && now - (samples[0] as { at: number }).at > RSS_WINDOW_MS) samples.shift();
    if (this.#runs.size === 0) return;
    let base = rss;
    for (const s of samples) base = Math.min(base, s.bytes);
    let allowance = RSS_SLACK_BYTES;
    const live: Run[] = [];
    for (const run of this.#runs) {
      // A killed run that has not stopped yet is the likely grower: leave it to the wedge check
      // rather than blame a run beside it.
      if (run.killReason !== null) return;
      allowance += run.count === 0 ? 32 * MiB + run.inputChars * 8 : run.memoryMb * 2 * MiB + (run.inputChars + run.resultChars) * 4;
      if (run.count > 0) live.push(run);
    }
    const growth = rss - base;
    if (growth <= allowance || live.length === 0) return;
    const mb = Math.round(growth / MiB);
    if (live.length === 1) (live[0] as Run).kill('memory', `exceeded memoryMb (${(live[0] as Run).memoryMb} MiB): the process grew by ${mb} MiB`);
    else this.#fatal(`the sandbox process grew by ${mb} MiB with ${live.length} batches running; cannot tell which`, null);
  }

  #wedged(run: Run, rss: number): void {
    const grewMb = Math.round((rss - run.rssAtStart) / MiB);
    const kind = run.killReason === 'memory' || grewMb > run.memoryMb ? 'memory' : 'timeout';
    const message = `${run.killMessage} and could not be stopped${kind === 'memory' ? ` (the process grew by ${grewMb} MiB)` : ''}; the sandbox process was restarted`;
    this.#fatal(`isolate of ${run.fnId} could not be stopped after it ${run.killMessage}`, run.culprit(kind, message));
  }
}
