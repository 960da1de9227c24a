/**
 * The child's watchdog, ticking every WATCHDOG_TICK_MS. Each function sandbox checks its own
 * invocations (timeouts while awaiting, calls isolated-vm could not interrupt, heap growth; see
 * function-sandbox.ts). What only the process as a whole can see is checked here: growth of the
 * process RSS, the one signal while V8 is stuck inside one huge allocation that the isolate's
 * `memoryLimit` (a guideline, per the isolated-vm README) does not stop.
 */
import { recordRss } from './rss-sample.ts';
import { WATCHDOG_TICK_MS, type Culprit } from '../protocol.ts';
import type { FunctionSandbox } from './function-sandbox.ts';

const MiB = 1024 * 1024;
const SLOW_CHECK_MS = 250;
/** RSS growth the process is always allowed (node heap, IPC buffers, isolate creation). */
const RSS_SLACK_BYTES = 128 * MiB;
/** Growth is measured from the lowest RSS over this window, so slow legitimate growth never adds up. */
const RSS_WINDOW_MS = 2_000;

/** Runs in the child for the life of the process. */
export class Watchdog {
  readonly #sandboxes: () => Iterable<FunctionSandbox>;
  readonly #fatal: (reason: string, culprit: Culprit | null, blameless?: boolean) => void;
  readonly #rss: { at: number; bytes: number }[] = [];

  constructor(sandboxes: () => Iterable<FunctionSandbox>, fatal: (reason: string, culprit: Culprit | null, blameless?: boolean) => void) {
    this.#sandboxes = sandboxes;
    this.#fatal = fatal;
    // Unref'd so that it never is what keeps the process alive.
    setInterval(() => this.#tick(), WATCHDOG_TICK_MS).unref();
  }

  #tick(): void {
    const now = Date.now();
    const rss = process.memoryUsage.rss();
    recordRss(rss);
    for (const sb of this.#sandboxes()) sb.tick(now);
    this.#checkRss(rss, now);
  }

  #checkRss(rss: number, now: number): void {
    const samples = this.#rss;
    const last = samples[samples.length - 1];
    if (last === undefined || now - last.at >= SLOW_CHECK_MS) samples.push({ at: now, bytes: rss });
    while (samples.length > 1 && now - samples[0]!.at > RSS_WINDOW_MS) samples.shift();
    let base = rss;
    for (const s of samples) base = Math.min(base, s.bytes);
    const busy: { sb: FunctionSandbox; instance: ReturnType<FunctionSandbox['busyInstances']>[number] }[] = [];
    let allowance = RSS_SLACK_BYTES;
    let disposed = 0;
    for (const sb of this.#sandboxes()) {
      for (const instance of sb.busyInstances()) {
        busy.push({ sb, instance });
        allowance += sb.spec.limits.memoryMb * 2 * MiB;
      }
      const stuck = sb.disposedStillRunning();
      disposed += stuck;
      allowance += stuck * sb.spec.limits.memoryMb * 2 * MiB;
    }
    const growth = rss - base;
    if (growth <= allowance || busy.length + disposed === 0) return;
    const mb = Math.round(growth / MiB);
    if (disposed > 0) {
      // A killed isolate's thread still runs (and may still allocate): the growth is most likely
      // its own, and only the process going away frees it. No live invocation is charged, nor
      // suspected: one running alone afterwards would otherwise take the blame.
      this.#fatal(`the sandbox process grew by ${mb} MiB while ${disposed} disposed isolate(s) still ran`, null, true);
    } else if (busy.length === 1) {
      const { sb, instance } = busy[0]!;
      sb.killForMemory(instance, `exceeded memoryMb (${sb.spec.limits.memoryMb} MiB): the process grew by ${mb} MiB`);
      // Forget the growth: the next check measures from here.
      samples.length = 0;
    } else this.#fatal(`the sandbox process grew by ${mb} MiB with ${busy.length} isolates running; cannot tell which`, null);
  }
}
