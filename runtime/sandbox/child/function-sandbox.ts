/**
 * One loaded function version in the child: its isolate(s), its chains in flight, its host
 * operations, and the verdicts when something goes wrong.
 *
 * - A call into an isolate that runs past the function's timeout is terminated by isolated-vm; the
 *   shim's progress buffer names the invocation that was running, which fails (or, if it had not
 *   had its full time — it started late in a call others had used — runs again, uncharged).
 * - An invocation that awaits past its timeout is cancelled by a call into the isolate.
 * - An isolate killed for memory fails the invocation that was running; the others on it run again.
 */
import type { SerializedError } from '../../types.ts';
import type { ChainSpec, Culprit, LoadSpec, ResultPart } from '../protocol.ts';
import { roundMs } from '../results.ts';
import { YIELDED, type ShimApi, type ShimLimits } from '../isolate/shim-api.ts';
import ivm from 'isolated-vm';
import { bootInstance } from './boot-instance.ts';
import { ChainFetches } from './chain-fetch.ts';
import { ChainRuns, type ChainRun } from './chain-runs.ts';
import { HostOps } from './host-ops.ts';
import { IsolateGuard } from './isolate-guard.ts';
import type { CallOutcome, CodeCache, IsolateInstance } from './isolate-instance.ts';
import { StackMapper } from './stack-map.ts';

/** What a function sandbox needs from the child process. */
export interface SandboxDeps {
  emit(part: ResultPart): void;
  readState(fnId: string, cid: number, key: string): Promise<string>;
  fatal(reason: string, culprit: Culprit | null): void;
  limits: ShimLimits;
}

/** One loaded function version: load, run chains, recycle isolates, dispose. */
export class FunctionSandbox {
  readonly spec: LoadSpec;
  readonly #deps: SandboxDeps;
  readonly #mapper: StackMapper;
  readonly #cache: CodeCache = {};
  readonly #instances: IsolateInstance[] = [];
  readonly #chains: ChainRuns;
  readonly #fetches: ChainFetches;
  readonly #guard: IsolateGuard;
  readonly #ops: HostOps;
  /** Chains waiting for an isolate (all of them are being recreated). */
  #waiting: ChainSpec[] = [];
  /** Loaded lazily and no isolate booted yet: the first chain boots them. */
  #cold = false;
  #broken: string | null = null;
  #disposed = false;
  readonly #yielded = new Map<IsolateInstance, number[]>();
  readonly #budgetMs: number;

  private constructor(spec: LoadSpec, deps: SandboxDeps) {
    this.spec = spec;
    this.#deps = deps;
    this.#mapper = new StackMapper(spec.filename, spec.sourceMap);
    this.#budgetMs = Math.max(1, Math.min(10, spec.limits.timeoutMs / 4));
    this.#chains = new ChainRuns(deps.emit, (json) => this.#mapper.mapResultStack(json));
    this.#fetches = new ChainFetches(spec, this.#chains);
    this.#guard = new IsolateGuard(spec.limits, {
      kill: (instance, kind, message) => this.#kill(instance, kind, message),
      unstoppable: (instance) => this.#deps.fatal(`an isolate of ${spec.id} could not be stopped`, this.culprit(instance, 'timeout', `exceeded timeoutMs (${spec.limits.timeoutMs} ms) and could not be stopped; the sandbox process was restarted`)),
    });
    this.#ops = new HostOps({
      resume: (instance, id, ok, payload, bytes) => {
        const args: Parameters<ShimApi['resume']> = bytes === undefined
          ? [id, ok, payload, this.#budgetMs]
          : [id, ok, payload, this.#budgetMs, new ivm.ExternalCopy(bytes).copyInto({ release: true }) as unknown as ArrayBuffer];
        void instance.call('resume', args).then((o) => this.#afterCall(instance, o, null));
      },
      readState: (cid, key) => deps.readState(spec.id, cid, key),
      fetch: (cid, json, body, signal) => this.#fetches.fetch(cid, json, body, signal),
    });
  }

  /**
   * Boots the function; resolves with its config as JSON text, or rejects with ERR_SANDBOX_LOAD.
   * A lazy spec boots nothing yet (config null): its first chain does.
   */
  static async load(spec: LoadSpec, deps: SandboxDeps): Promise<{ sandbox: FunctionSandbox; configJson: string | null }> {
    const sandbox = new FunctionSandbox(spec, deps);
    if (spec.lazy === true) {
      sandbox.#cold = true;
      return { sandbox, configJson: null };
    }
    const { instance, configJson } = await sandbox.#boot();
    sandbox.#instances.push(instance);
    for (let i = 1; i < spec.limits.instances; i++) sandbox.#instances.push((await sandbox.#boot()).instance);
    return { sandbox, configJson };
  }

  /** Starts chains; their results go to `deps.emit` as they come. */
  run(chains: ChainSpec[]): void {
    if (this.#broken !== null) {
      for (const c of chains) this.#chains.fail(c.cid, c.count, 0, 'crash', this.#broken);
      return;
    }
    if (this.#instances.length === 0) {
      this.#waiting.push(...chains);
      if (this.#cold) void this.#warm();
      return;
    }
    const byInstance = new Map<IsolateInstance, ChainSpec[]>();
    for (const c of chains) {
      const best = this.#chains.place(c, this.#instances);
      let list = byInstance.get(best);
      if (list === undefined) byInstance.set(best, (list = []));
      list.push(c);
    }
    for (const [instance, list] of byInstance) this.#start(instance, list);
  }

  #start(instance: IsolateInstance, list: ChainSpec[]): void {
    let json = '[';
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      json += `${i === 0 ? '' : ','}{"c":${c.cid},"items":${c.items},"state":${c.state ?? 'null'}}`;
    }
    void instance.call('start', [`${json}]`, this.#budgetMs]).then((o) => this.#afterCall(instance, o, { kind: 'start', list }));
  }

  #next(instance: IsolateInstance, cids: number[]): void {
    void instance.call('next', [cids.join(','), this.#budgetMs]).then((o) => this.#afterCall(instance, o, { kind: 'next', cids }));
  }

  /** A result (or a yield) from the shim. */
  report(instance: IsolateInstance, cid: number, index: number, json: string): void {
    const chain = this.#chains.get(cid);
    if (chain === undefined || chain.instance !== instance) return;
    if (index === YIELDED) {
      chain.yielded = true;
      let list = this.#yielded.get(instance);
      if (list === undefined) {
        this.#yielded.set(instance, (list = []));
        setImmediate(() => {
          this.#yielded.delete(instance);
          if (this.#instances.includes(instance)) this.#next(instance, list!);
        });
      }
      list.push(cid);
      return;
    }
    if (index !== chain.next) return;
    this.#chains.finish(chain, index, json);
  }

  opStart(instance: IsolateInstance, id: number, cid: number, kind: string, arg: string, bytes?: ArrayBuffer): void {
    this.#ops.start(instance, id, cid, kind, arg, bytes);
  }

  opCancel(instance: IsolateInstance, id: number): void {
    this.#ops.cancel(instance, id);
  }

  /** The chain that was running on `instance` when something catastrophic happened there. */
  culprit(instance: IsolateInstance | null, kind: SerializedError['kind'], message: string): Culprit {
    const cid = instance === null ? null : this.#chains.runningOn(instance);
    const chain = cid === null ? undefined : this.#chains.get(cid);
    return { fnId: this.spec.id, cid: chain === undefined ? null : chain.cid, index: chain?.next ?? 0, kind, message, durationMs: chain === undefined ? 0 : roundMs(performance.now() - chain.itemStartedAt) };
  }

  /** True while `instance` belongs to this function. */
  owns(instance: IsolateInstance): boolean {
    return this.#instances.includes(instance);
  }

  /** Instances with a call running now, for the process-wide memory guard. */
  busyInstances(): IsolateInstance[] {
    return this.#instances.filter((i) => i.running !== undefined && i.running.startedAt > 0);
  }

  /** Isolates already disposed whose call still runs (see IsolateGuard.stillRunning). */
  disposedStillRunning(): number {
    return this.#guard.stillRunning();
  }

  /** Bytes used on the isolates' heaps now (async: never blocks on a running call), or null. */
  async heapUsedBytes(): Promise<number | null> {
    let total = 0;
    for (const inst of this.#instances) {
      try {
        total += (await inst.isolate.getHeapStatistics()).used_heap_size;
      } catch {
        // disposed meanwhile
      }
    }
    return this.#instances.length === 0 ? null : total;
  }

  /** The watchdog's tick: timeouts of awaiting invocations, wedged calls, heap growth. */
  tick(now: number): void {
    const timeoutMs = this.spec.limits.timeoutMs;
    for (const chain of this.#chains.overdue(now, timeoutMs)) this.#cancel(chain, 'TimeoutError', 'timeout', `exceeded timeoutMs (${timeoutMs} ms)`);
    this.#guard.tick(this.#instances, now);
  }

  /** Disposes an isolate that outgrew its memory (the process-wide guard calls this too). */
  killForMemory(instance: IsolateInstance, message: string): void {
    this.#kill(instance, 'memory', message);
  }

  dispose(): void {
    this.#disposed = true;
    this.#fetches.close();
    this.#chains.failAll(`${this.spec.id} was unloaded while it ran`);
    for (const inst of this.#instances.splice(0)) {
      this.#ops.forget(inst);
      inst.dispose();
    }
  }

  #cancel(chain: ChainRun, name: string, kind: string, message: string): void {
    chain.cancelling = true;
    this.#ops.cancelChain(chain.instance, chain.cid);
    void chain.instance.call('cancel', [chain.cid, name, kind, message]).then((o) => this.#afterCall(chain.instance, o, null));
  }

  /** What to do after a call into `instance` ended; `batch` is what a start or next call carried. */
  #afterCall(instance: IsolateInstance, outcome: CallOutcome, batch: { kind: 'start'; list: ChainSpec[] } | { kind: 'next'; cids: number[] } | null): void {
    if (outcome === 'ok' || !this.#instances.includes(instance)) return;
    const [cid, index, startedAtMs] = instance.failedProgress;
    const chain = this.#chains.get(cid);
    const running = chain !== undefined && chain.instance === instance && chain.next === index ? cid : null;
    if (outcome === 'disposed') return this.#kill(instance, 'memory', `exceeded memoryMb (${this.spec.limits.memoryMb} MiB)`, running);
    const timeoutMs = this.spec.limits.timeoutMs;
    // The others on this isolate could not run meanwhile: that time does not count against them.
    this.#chains.giveTime(instance, cid, Math.max(0, Date.now() - startedAtMs));
    if (chain !== undefined && running !== null && !chain.cancelling) {
      const hadItsTime = Date.now() - startedAtMs >= timeoutMs - 2 * this.#budgetMs;
      if (outcome === 'error') this.#cancel(chain, 'SandboxCrashError', 'crash', 'the sandbox failed while running this invocation');
      else if (hadItsTime) this.#cancel(chain, 'TimeoutError', 'timeout', `exceeded timeoutMs (${timeoutMs} ms)`);
      else this.#cancel(chain, 'Skip', 'skip', 'cut short by another invocation');
    }
    if (batch === null) return;
    // Chains after the one that ran out of time never started in that call: start them again.
    const ids = batch.kind === 'start' ? batch.list.map((c) => c.cid) : batch.cids;
    const from = ids.indexOf(cid) + 1;
    if (from === 0) return; // the culprit was not one of them: they all started
    const rest = ids.slice(from).filter((id) => this.#chains.get(id)?.instance === instance && !this.#chains.get(id)!.yielded);
    if (rest.length === 0) return;
    if (batch.kind === 'start') this.#start(instance, batch.list.filter((c) => rest.includes(c.cid)));
    else this.#next(instance, rest);
  }

  /** The isolate is gone: fail the invocation that was running on it, run the others again. */
  #kill(instance: IsolateInstance, kind: 'memory' | 'timeout', message: string, culprit = this.#chains.runningOn(instance)): void {
    const at = this.#instances.indexOf(instance);
    if (at < 0) return;
    this.#instances.splice(at, 1);
    this.#guard.disposing(instance);
    instance.dispose();
    this.#ops.forget(instance);
    this.#chains.dropInstance(instance, culprit, kind, message);
    if (!this.#disposed) void this.#replace();
  }

  /** The first chain of a lazy load: boots its isolates, one after another; the first one runs what waits. */
  async #warm(): Promise<void> {
    this.#cold = false;
    for (let i = 0; i < this.spec.limits.instances && !this.#disposed && this.#broken === null; i++) await this.#replace('initialised');
  }

  async #replace(why: 'initialised' | 're-initialised after its isolate was recycled' = 're-initialised after its isolate was recycled'): Promise<void> {
    try {
      const { instance } = await this.#boot();
      if (this.#disposed) return instance.dispose();
      this.#instances.push(instance);
      const waiting = this.#waiting;
      this.#waiting = [];
      if (waiting.length > 0) this.run(waiting);
    } catch (e) {
      this.#broken = `the function could not be ${why}: ${(e as Error).message}`;
      if (this.#instances.length === 0) {
        const waiting = this.#waiting;
        this.#waiting = [];
        this.run(waiting);
      }
    }
  }

  #boot(): Promise<{ instance: IsolateInstance; configJson: string }> {
    const spec = this.spec;
    return bootInstance(spec, this.#cache, this.#deps.limits, this.#mapper, {
      report: (inst, cid, index, json) => this.report(inst, cid, index, json),
      opStart: (inst, id, cid, kind, arg, bytes) => this.opStart(inst, id, cid, kind, arg, bytes),
      opCancel: (inst, id) => this.opCancel(inst, id),
      catastrophic: (inst, message) => {
        const kind = /out.of.memory/i.test(message) ? 'memory' : 'crash';
        const detail = `${kind === 'memory' ? `exceeded memoryMb (${spec.limits.memoryMb} MiB): ` : ''}${message}; the sandbox process was restarted`;
        this.#deps.fatal(`${spec.id}: ${message}`, this.culprit(inst, kind, detail));
      },
    });
  }
}
