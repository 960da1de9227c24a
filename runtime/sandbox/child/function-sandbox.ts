/**
 * One loaded function version in the child: its isolate (recreated after a kill), its stack mapper,
 * and the batch in progress. The host sends at most one request per function at a time.
 */
import { SandboxError } from '../../errors.ts';
import type { SerializedError } from '../../types.ts';
import type { Culprit, LoadSpec } from '../protocol.ts';
import { IsolateInstance, type CodeCache } from './isolate-instance.ts';
import { assembleResults, failureJson } from '../results.ts';
import { Run } from './run.ts';
import { REPORT_DONE, REPORT_ERROR, REPORT_RESULTS } from '../isolate/shim.ts';
import { StackMapper } from './stack-map.ts';
import type { IdleSandbox, Watchdog } from './watchdog.ts';

/** What a function sandbox needs from the child process. */
export interface SandboxDeps {
  watchdog: Watchdog;
  fatal(reason: string, culprit: Culprit | null): void;
}

/** A batch either completes (the results array as JSON text) or is cut short by a kill. */
export type InvokeOutcome = { json: string } | { culprit: Culprit };

type Settle = { resolve(outcome: InvokeOutcome): void; reject(e: Error): void };

/** One loaded function version: load, invoke, recycle after a kill, dispose. */
export class FunctionSandbox implements IdleSandbox {
  readonly spec: LoadSpec;
  readonly #deps: SandboxDeps;
  readonly #mapper: StackMapper;
  readonly #cache: CodeCache = {};
  #instance: IsolateInstance | null = null;
  #booting: Promise<IsolateInstance> | null = null;
  #run: Run | null = null;
  #settle: Settle | null = null;
  #lastCpuNs = 0n;
  #disposed = false;

  private constructor(spec: LoadSpec, deps: SandboxDeps) {
    this.spec = spec;
    this.#deps = deps;
    this.#mapper = new StackMapper(spec.filename, spec.sourceMap);
  }

  /** Boots the function; resolves with its config as JSON text, or rejects with ERR_SANDBOX_LOAD. */
  static async load(spec: LoadSpec, deps: SandboxDeps, rid: number): Promise<{ sandbox: FunctionSandbox; configJson: string }> {
    const sandbox = new FunctionSandbox(spec, deps);
    const { instance, configJson } = await sandbox.#boot(rid);
    sandbox.#instance = instance;
    return { sandbox, configJson };
  }

  /** Runs a batch: all `count` results, or the culprit if the watchdog or the memory limit killed it. */
  async invoke(rid: number, batch: string, count: number): Promise<InvokeOutcome> {
    if (this.#run !== null) throw new SandboxError(`${this.spec.id} is already running a batch`);
    let instance: IsolateInstance;
    try {
      instance = await this.#ready();
    } catch (e) {
      const message = `the function could not be re-initialised after its isolate was recycled: ${(e as Error).message}`;
      return { json: assembleResults([], count, failureJson('crash', message)) };
    }
    return new Promise<InvokeOutcome>((resolve, reject) => {
      const run = this.#newRun(instance, rid, count, batch.length);
      this.#run = run;
      this.#settle = { resolve, reject };
      instance.runBatch(batch, count).then(
        () => void (run.callSettled = true),
        (e: unknown) => {
          run.callSettled = true;
          // With the isolate alive this is an unhandled rejection from user code ending the first
          // task: the batch goes on and its reports will come.
          if (run.killReason !== null || instance.isolate.isDisposed) this.#finish(run, e);
        },
      );
    });
  }

  dispose(): void {
    this.#disposed = true;
    const run = this.#run;
    if (run !== null && this.#settle !== null) {
      this.#settle.reject(new SandboxError(`${this.spec.id} was unloaded while a batch was running`));
      this.#endRun(run);
    }
    this.#instance?.dispose();
    this.#instance = null;
  }

  idleCpuDeltaNs(): bigint {
    const inst = this.#instance;
    if (inst === null || this.#run !== null || inst.isolate.isDisposed) return 0n;
    const cpu = inst.isolate.cpuTime;
    const delta = this.#lastCpuNs === 0n ? 0n : cpu - this.#lastCpuNs;
    this.#lastCpuNs = cpu;
    return delta;
  }

  /** Bytes used on the isolate's heap now (async: never blocks on a running batch), or null without an isolate. */
  async heapUsedBytes(): Promise<number | null> {
    const inst = this.#instance;
    if (inst === null || inst.isolate.isDisposed) return null;
    try {
      return (await inst.isolate.getHeapStatistics()).used_heap_size;
    } catch {
      return null; // disposed meanwhile
    }
  }

  /** Disposes an idle isolate that keeps using CPU (work detached from its invocation) and recreates it. */
  recycle(): void {
    if (this.#run !== null || this.#instance === null) return;
    this.#instance.dispose();
    this.#instance = null;
    this.#lastCpuNs = 0n;
    void this.#ready().catch(() => {}); // failure surfaces at the next invoke
  }

  /** The current run, if any, as the cause of a catastrophic error in this function's isolate. */
  culprit(kind: SerializedError['kind'], message: string): Culprit {
    return this.#run?.culprit(kind, message) ?? { fnId: this.spec.id, rid: null, index: 0, kind, message, done: '[]', durationMs: 0 };
  }

  #ready(): Promise<IsolateInstance> {
    if (this.#instance !== null) return Promise.resolve(this.#instance);
    this.#booting ??= this.#boot(null).then(
      ({ instance }) => {
        this.#booting = null;
        if (this.#disposed) instance.dispose();
        else this.#instance = instance;
        return instance;
      },
      (e: unknown) => {
        this.#booting = null;
        throw e;
      },
    );
    return this.#booting;
  }

  async #boot(rid: number | null): Promise<{ instance: IsolateInstance; configJson: string }> {
    const spec = this.spec;
    let run: Run | null = null;
    const instance = new IsolateInstance(
      spec,
      (code, n, json) => this.#onReport(instance, code, n, json),
      (message) => {
        const kind = /out.of.memory/i.test(message) ? 'memory' : 'crash';
        const detail = `${kind === 'memory' ? `exceeded memoryMb (${spec.limits.memoryMb} MiB): ` : ''}${message}; the sandbox process was restarted`;
        this.#deps.fatal(`${spec.id}: ${message}`, run !== null && !run.settled ? run.culprit(kind, detail) : this.culprit(kind, detail));
      },
    );
    run = new Run({ fnId: spec.id, rid, count: 0, timeoutMs: spec.limits.timeoutMs, memoryMb: spec.limits.memoryMb, instance, inputChars: spec.code.length }, () => {});
    this.#deps.watchdog.add(run);
    try {
      const answer = JSON.parse(await instance.boot(spec, this.#cache)) as { ok: boolean; config?: unknown; error?: { stack: string } };
      if (!answer.ok) throw new SandboxError(`${spec.name}: top-level code threw: ${this.#mapper.map(answer.error?.stack ?? '')}`, { code: 'ERR_SANDBOX_LOAD' });
      return { instance, configJson: JSON.stringify(answer.config) };
    } catch (e) {
      instance.dispose();
      if (e instanceof SandboxError) throw e;
      const raw = e instanceof Error ? e : new Error(String(e));
      let message = raw.message;
      if (run.killReason !== null) message = `top-level code ${run.killMessage.replace(/^top-level code /, '')}`;
      else if (/memory limit/.test(message)) message = `top-level code exceeded memoryMb (${spec.limits.memoryMb} MiB)`;
      else if (/timed out/i.test(message)) message = `top-level code exceeded timeoutMs (${spec.limits.timeoutMs} ms)`;
      else if (typeof raw.stack === 'string') message = this.#mapper.map(raw.stack);
      throw new SandboxError(`${spec.name}: cannot load: ${message}`, { code: 'ERR_SANDBOX_LOAD', cause: e });
    } finally {
      run.settled = true;
      this.#deps.watchdog.delete(run);
    }
  }

  #newRun(instance: IsolateInstance, rid: number, count: number, inputChars: number): Run {
    const { id, limits } = this.spec;
    const run = new Run({ fnId: id, rid, count, timeoutMs: limits.timeoutMs, memoryMb: limits.memoryMb, instance, inputChars }, (r) => this.#finish(r, null));
    this.#deps.watchdog.add(run);
    return run;
  }

  #onReport(instance: IsolateInstance, code: number, n: number, json: string): void {
    const run = this.#run;
    // Reports queued before a kill still count (they precede the call's rejection); reports from
    // an isolate whose run is over do not.
    if (run === null || run.instance !== instance) return;
    if (code === REPORT_RESULTS) run.addResults(n, json);
    else if (code === REPORT_ERROR) run.addResults(n, this.#mapErrorJson(json));
    else if (code === REPORT_DONE) {
      run.addResults(n, json);
      this.#finish(run, null);
    } else {
      const settle = this.#settle;
      this.#endRun(run);
      settle?.reject(new SandboxError(`invalid batch for ${this.spec.id}: ${json}`));
    }
  }

  #finish(run: Run, callError: unknown): void {
    const settle = this.#settle;
    if (run !== this.#run || settle === null) return;
    if (run.killReason === null && !run.instance.isolate.isDisposed) {
      this.#endRun(run);
      return settle.resolve({ json: assembleResults(run.chunks, run.count, null, run.resultCount) });
    }
    const callMessage = String((callError as Error | undefined)?.message);
    const kind = run.killReason ?? (/memory limit/.test(callMessage) ? 'memory' : 'crash');
    const message = run.killMessage || (kind === 'memory' ? `exceeded memoryMb (${run.memoryMb} MiB)` : `the isolate was disposed: ${callMessage}`);
    const culprit = run.culprit(kind, message);
    this.#endRun(run);
    this.#recycleAfterKill(run.instance);
    settle.resolve({ culprit });
  }

  #endRun(run: Run): void {
    this.#lastCpuNs = 0n; // the idle-spin check measures from the next tick, not across this run
    run.settled = true;
    this.#deps.watchdog.delete(run);
    run.instance.timers.clear();
    this.#run = null;
    this.#settle = null;
  }

  #recycleAfterKill(instance: IsolateInstance): void {
    instance.dispose();
    if (this.#instance === instance) this.#instance = null;
    // Recreate now (~8 ms) rather than on the next batch; errors surface at the next invoke.
    if (!this.#disposed) void this.#ready().catch(() => {});
  }

  #mapErrorJson(json: string): string {
    try {
      const r = JSON.parse(json) as { error: { stack: string } };
      r.error.stack = this.#mapper.map(r.error.stack);
      return JSON.stringify(r);
    } catch {
      return json;
    }
  }
}
