/**
 * One isolate with one long-lived context: the shim, then the user's bundle. Recreated from the same
 * spec (with V8 cached data) after a memory kill.
 *
 * Every entry into the isolate is a call with a timeout (isolated-vm terminates a call that runs
 * longer, including the microtasks it queued, and the isolate survives), and calls run one at a
 * time in issue order, so the instance knows which call is running and, from the shim's progress
 * buffer, for which invocation.
 */
import ivm from 'isolated-vm';
import { TOP_LEVEL_TIMEOUT_MS, WATCHDOG_TICK_MS, type LoadSpec } from '../protocol.ts';
import { randomBytesCallback, urlCallback } from './isolate-callbacks.ts';
import { recentRss } from './rss-sample.ts';
import { SHIM_FILENAME, forEachReported, type ShimApi, type ShimLimits } from '../isolate/shim-api.ts';
import { SHIM_SOURCE } from '../isolate/shim-source.ts';

/** Compiled-code caches: the shim's is shared by all isolates, a bundle's by its recreations. */
export interface CodeCache {
  data?: ivm.ExternalCopy<ArrayBuffer>;
}
const shimCache: CodeCache = {};

/** What the shim tells the child (see ShimBridge). */
export interface InstanceEvents {
  report(instance: IsolateInstance, cid: number, index: number, json: string): void;
  opStart(instance: IsolateInstance, id: number, cid: number, kind: string, arg: string, bytes: ArrayBuffer | undefined): void;
  opCancel(instance: IsolateInstance, id: number): void;
  catastrophic(instance: IsolateInstance, message: string): void;
}

/** How a call into the isolate ended. */
export type CallOutcome = 'ok' | 'timeout' | 'disposed' | 'error';

/** One call in flight. `startedAt` is 0 while it waits behind the previous one. */
export interface Call {
  readonly kind: keyof Omit<ShimApi, 'init'>;
  readonly issuedAt: number;
  startedAt: number;
  /** The process RSS when it started, to tell a stuck allocation from a stuck loop. */
  rssAtStart: number;
  /** The progress buffer as the watchdog saw it while this call surely ran (see {@link IsolateInstance.sampleProgress}). */
  sample: [number, number, number] | null;
}

type CallableApi = { [K in keyof Omit<ShimApi, 'init'>]: ivm.Reference<ShimApi[K]> };

/** An isolate booted with the shim and a bundle; disposed on unload or after a memory kill. */
export class IsolateInstance {
  readonly isolate: ivm.Isolate;
  /** Written by the shim: [cid, index, startedAt ms] of the invocation user code runs for. */
  readonly progress = new Float64Array(new SharedArrayBuffer(24));
  /** Calls issued and not settled, oldest first; the first one is the one running (or about to). */
  readonly calls: Call[] = [];
  /**
   * [cid, index, startedAt ms] of the invocation that was running when the last call that did not
   * end `ok` ended: read when it settled, or, when calls were queued behind it (the isolate's
   * thread may have started them, and they write the buffer too), what the watchdog last saw while
   * it ran. Read it in the outcome's handler.
   */
  failedProgress: [number, number, number] = [0, 0, 0];
  /** Chains in flight on this instance, for load balancing. */
  chains = 0;
  readonly #timeoutMs: number;
  readonly #callbacks: ivm.Callback[];
  #api: CallableApi | null = null;

  constructor(spec: LoadSpec, events: InstanceEvents) {
    this.isolate = new ivm.Isolate({ memoryLimit: spec.limits.memoryMb, onCatastrophicError: (m) => events.catastrophic(this, m) });
    this.#timeoutMs = spec.limits.timeoutMs;
    // Ignored mode: the isolate thread does not wait for the main thread (~1 µs instead of ~50 µs).
    this.#callbacks = [
      new ivm.Callback((batch: string) => forEachReported(batch, (cid, index, json) => events.report(this, cid, index, json)), { ignored: true }),
      new ivm.Callback((id: number, cid: number, kind: string, arg: string, bytes?: ArrayBuffer) => events.opStart(this, id, cid, kind, arg, bytes), { ignored: true }),
      new ivm.Callback((id: number) => events.opCancel(this, id), { ignored: true }),
    ];
  }

  /** Installs the shim, runs the bundle's top level; returns the shim's init answer (JSON text). */
  async boot(spec: LoadSpec, bundleCache: CodeCache, limits: ShimLimits): Promise<string> {
    const context = await this.isolate.createContext();
    const shim = await compile(this.isolate, SHIM_SOURCE, SHIM_FILENAME, shimCache);
    const factory = (await shim.run(context, { reference: true })) as ivm.Reference;
    const [report, opStart, opCancel] = this.#callbacks;
    const api = (await factory.apply(
      undefined,
      [report, opStart, opCancel, new ivm.ExternalCopy(this.progress.buffer).copyInto({ release: true }), urlCallback, randomBytesCallback, spec.name, JSON.stringify(spec.env), JSON.stringify(limits)],
      { result: { reference: true } },
    )) as ivm.Reference<ShimApi>;
    // The bundle is wrapped in a function so `var __fnrun_module` stays local; lineOffset keeps
    // stack line numbers equal to the bundle's, which the source map expects.
    const wrapped = `(function () {\n${spec.code}\nreturn typeof __fnrun_module === 'undefined' ? undefined : __fnrun_module;\n})`;
    const bundle = await compile(this.isolate, wrapped, spec.filename, bundleCache, -1);
    const moduleFactory = (await bundle.run(context, { reference: true, timeout: TOP_LEVEL_TIMEOUT_MS })) as ivm.Reference;
    const init = (await api.get('init', { reference: true })) as ivm.Reference<ShimApi['init']>;
    const answer = (await init.apply(undefined, [moduleFactory.derefInto()], { timeout: TOP_LEVEL_TIMEOUT_MS })) as string;
    const ref = async <K extends keyof CallableApi>(name: K) => (await api.get(name, { reference: true })) as CallableApi[K];
    this.#api = { start: await ref('start'), next: await ref('next'), resume: await ref('resume'), cancel: await ref('cancel') };
    for (const r of [factory, api, moduleFactory, init]) r.release();
    shim.release();
    bundle.release();
    return answer;
  }

  /** The call running now (or next to run), if any. */
  get running(): Call | undefined {
    return this.calls[0];
  }

  /** Calls the shim with the function's timeout; never rejects. */
  call<K extends keyof CallableApi>(kind: K, args: Parameters<ShimApi[K]>): Promise<CallOutcome> {
    const ref = this.#api?.[kind];
    if (ref === undefined || this.isolate.isDisposed) return Promise.resolve('disposed');
    const call: Call = { kind, issuedAt: Date.now(), startedAt: 0, rssAtStart: 0, sample: null };
    if (this.calls.length === 0) {
      call.startedAt = call.issuedAt;
      call.rssAtStart = recentRss();
    }
    this.calls.push(call);
    return (ref as ivm.Reference<(...a: unknown[]) => void>).apply(undefined, args as unknown as never[], { timeout: this.#timeoutMs }).then(
      () => this.#settled(call, 'ok'),
      (e: unknown) => this.#settled(call, classify(e, this.isolate)),
    );
  }

  dispose(): void {
    if (!this.isolate.isDisposed) this.isolate.dispose();
  }

  /**
   * The watchdog's tick: remembers which invocation the running call is in. Only from a tick after
   * it started (so it has entered its own invocations: the buffer no longer names the previous
   * call's) and before `issuedAt + timeoutMs` (until then it cannot have been stopped for time, so
   * the buffer is not yet that of a call queued behind it).
   */
  sampleProgress(now: number): void {
    const call = this.calls[0];
    if (call === undefined || call.startedAt === 0 || now - call.startedAt < WATCHDOG_TICK_MS || now >= call.issuedAt + this.#timeoutMs) return;
    call.sample = [this.progress[0]!, this.progress[1]!, this.progress[2]!];
  }

  #settled(call: Call, outcome: CallOutcome): CallOutcome {
    if (outcome !== 'ok') {
      const queuedBehind = this.calls.length > 1;
      this.failedProgress = queuedBehind && call.sample !== null ? call.sample : [this.progress[0]!, this.progress[1]!, this.progress[2]!];
    }
    const i = this.calls.indexOf(call);
    if (i >= 0) this.calls.splice(i, 1);
    const next = this.calls[0];
    if (next !== undefined && next.startedAt === 0) {
      next.startedAt = Date.now();
      next.rssAtStart = recentRss();
    }
    return outcome;
  }
}

function classify(e: unknown, isolate: ivm.Isolate): CallOutcome {
  const message = e instanceof Error ? e.message : String(e);
  if (/timed out/i.test(message)) return 'timeout';
  if (isolate.isDisposed || /disposed/i.test(message)) return 'disposed';
  return 'error';
}

/** isolated-vm sets these on the script (see its README) but its typings omit them. */
type CompiledScript = ivm.Script & ivm.CachedDataResult & { cachedDataRejected?: boolean };

async function compile(isolate: ivm.Isolate, code: string, filename: string, cache: CodeCache, lineOffset = 0): Promise<ivm.Script> {
  const script: CompiledScript = await isolate.compileScript(code, {
    filename,
    lineOffset,
    ...(cache.data === undefined ? { produceCachedData: true } : { cachedData: cache.data }),
  });
  if (cache.data === undefined) cache.data = script.cachedData;
  else if (script.cachedDataRejected === true) delete cache.data; // produce fresh data next time
  return script;
}
