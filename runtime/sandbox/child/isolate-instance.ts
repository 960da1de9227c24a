/**
 * One isolate with one long-lived context: the shim, then the user's bundle. Recreated from the same
 * spec (with V8 cached data) after the watchdog or the memory limit disposes it.
 */
import ivm from 'isolated-vm';
import type { LoadSpec } from '../protocol.ts';
import { HostTimers, randomBytesCallback, urlCallback } from './isolate-callbacks.ts';
import { SHIM_FILENAME, SHIM_SOURCE, type ShimApi } from '../isolate/shim.ts';

/** Compiled-code caches: the shim's is shared by all isolates, a bundle's by its recreations. */
export interface CodeCache {
  data?: ivm.ExternalCopy<ArrayBuffer>;
}
const shimCache: CodeCache = {};

/** Receives the shim's reports, see REPORT_* in shim.ts. */
export type ReportFn = (code: number, n: number, json: string) => void;

/** An isolate booted with the shim and a bundle; disposed on unload, kill or recycle. */
export class IsolateInstance {
  readonly isolate: ivm.Isolate;
  readonly timers = new HostTimers();
  /** Written by the shim, read by the watchdog: [index of the running event, its start time]. */
  readonly progress = new Float64Array(new SharedArrayBuffer(16));
  readonly #report: ivm.Callback<ReportFn>;
  #runBatch: ivm.Reference<ShimApi['runBatch']> | null = null;

  constructor(spec: LoadSpec, onReport: ReportFn, onCatastrophic: (message: string) => void) {
    this.isolate = new ivm.Isolate({ memoryLimit: spec.limits.memoryMb, onCatastrophicError: onCatastrophic });
    // Ignored mode: the isolate thread does not wait for the main thread (~1 µs instead of ~50 µs).
    this.#report = new ivm.Callback(onReport, { ignored: true });
  }

  /** Installs the shim, runs the bundle's top level; returns the shim's init answer (JSON text). */
  async boot(spec: LoadSpec, bundleCache: CodeCache): Promise<string> {
    const context = await this.isolate.createContext();
    const shim = await compile(this.isolate, SHIM_SOURCE, SHIM_FILENAME, shimCache);
    const factory = (await shim.run(context, { reference: true })) as ivm.Reference;
    const api = (await factory.apply(
      undefined,
      [this.#report, new ivm.ExternalCopy(this.progress.buffer).copyInto({ release: true }), this.timers.sleep, this.timers.cancel, urlCallback, randomBytesCallback, spec.name, JSON.stringify(spec.env)],
      { result: { reference: true } },
    )) as ivm.Reference<ShimApi>;
    // The bundle is wrapped in a function so `var __fnrun_module` stays local; lineOffset keeps
    // stack line numbers equal to the bundle's, which the source map expects.
    const wrapped = `(function () {\n${spec.code}\nreturn typeof __fnrun_module === 'undefined' ? undefined : __fnrun_module;\n})`;
    const bundle = await compile(this.isolate, wrapped, spec.filename, bundleCache, -1);
    const moduleFactory = (await bundle.run(context, { reference: true })) as ivm.Reference;
    const init = (await api.get('init', { reference: true })) as ivm.Reference<ShimApi['init']>;
    const answer = (await init.apply(undefined, [moduleFactory.derefInto()], { timeout: spec.limits.timeoutMs })) as string;
    this.#runBatch = (await api.get('runBatch', { reference: true })) as ivm.Reference<ShimApi['runBatch']>;
    for (const r of [factory, api, moduleFactory, init]) r.release();
    shim.release();
    bundle.release();
    return answer;
  }

  /** Starts a batch; settles early (ignore that) if user code leaves an unhandled rejection in the first task. */
  runBatch(batch: string, count: number): Promise<unknown> {
    if (this.#runBatch === null) return Promise.reject(new Error('isolate not booted'));
    this.progress[0] = -1; // not started: the shim writes 0 when the first event starts
    this.progress[1] = Date.now();
    return this.#runBatch.apply(undefined, [batch, count], { result: { promise: true } });
  }

  dispose(): void {
    this.timers.release();
    if (!this.isolate.isDisposed) this.isolate.dispose();
  }
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
