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
import { SandboxError } from '../../errors.ts';
import type { SerializedError } from '../../types.ts';
import { TOP_LEVEL_TIMEOUT_MS, WATCHDOG_TICK_MS, WEDGE_GRACE_MS, type ChainSpec, type Culprit, type LoadSpec, type ResultPart } from '../protocol.ts';
import { SKIPPED_JSON, SUSPECT_JSON, failureJson, finishResultJson, roundMs } from '../results.ts';
import { YIELDED, type ShimApi, type ShimLimits } from '../isolate/shim-api.ts';
import ivm from 'isolated-vm';
import { compileNetworkPolicy } from '../../policy/network-policy.ts';
import { runFetch, type FetchAnswer } from './fetch-bridge.ts';
import { FetchExecutor } from './fetch-executor.ts';
import { fetchExecutorOptions } from './fetch-options.ts';
import { HostOps } from './host-ops.ts';
import { IsolateInstance, type CallOutcome, type CodeCache } from './isolate-instance.ts';
import { recentRss } from './rss-sample.ts';
import { StackMapper } from './stack-map.ts';

/** What a function sandbox needs from the child process. */
export interface SandboxDeps {
  emit(part: ResultPart): void;
  readState(fnId: string, cid: number, key: string): Promise<string>;
  fatal(reason: string, culprit: Culprit | null): void;
  limits: ShimLimits;
}

interface ChainRun {
  cid: number;
  count: number;
  instance: IsolateInstance;
  /** Index of the next result expected. */
  next: number;
  /** When the current item started (performance.now(), and Date.now() for the shim's clock). */
  itemStartedAt: number;
  itemStartedAtMs: number;
  yielded: boolean;
  cancelling: boolean;
  /** Fetch records (JSON texts) of the running event, sent with its result. */
  fetches: string[] | null;
}

const HEAP_SAMPLE_MS = 250;
const MiB = 1024 * 1024;

/** One loaded function version: load, run chains, recycle isolates, dispose. */
export class FunctionSandbox {
  readonly spec: LoadSpec;
  readonly #deps: SandboxDeps;
  readonly #mapper: StackMapper;
  readonly #cache: CodeCache = {};
  readonly #instances: IsolateInstance[] = [];
  readonly #chains = new Map<number, ChainRun>();
  readonly #ops: HostOps;
  /** Chains waiting for an isolate (all of them are being recreated). */
  #waiting: ChainSpec[] = [];
  #booting = 0;
  #broken: string | null = null;
  #disposed = false;
  readonly #yielded = new Map<IsolateInstance, number[]>();
  #heapSampledAt = 0;
  readonly #killedAt = new Map<IsolateInstance, number>();
  readonly #budgetMs: number;
  #executor: FetchExecutor | null = null;

  private constructor(spec: LoadSpec, deps: SandboxDeps) {
    this.spec = spec;
    this.#deps = deps;
    this.#mapper = new StackMapper(spec.filename, spec.sourceMap);
    this.#budgetMs = Math.max(1, Math.min(10, spec.limits.timeoutMs / 4));
    this.#ops = new HostOps({
      resume: (instance, id, ok, payload, bytes) => {
        const args: Parameters<ShimApi['resume']> = bytes === undefined
          ? [id, ok, payload, this.#budgetMs]
          : [id, ok, payload, this.#budgetMs, new ivm.ExternalCopy(bytes).copyInto({ release: true }) as unknown as ArrayBuffer];
        void instance.call('resume', args).then((o) => this.#afterCall(instance, o, null));
      },
      readState: (cid, key) => deps.readState(spec.id, cid, key),
      fetch: (cid, json, body, signal) => this.#fetch(cid, json, body, signal),
    });
  }

  /** Boots the function; resolves with its config as JSON text, or rejects with ERR_SANDBOX_LOAD. */
  static async load(spec: LoadSpec, deps: SandboxDeps): Promise<{ sandbox: FunctionSandbox; configJson: string }> {
    const sandbox = new FunctionSandbox(spec, deps);
    const { instance, configJson } = await sandbox.#boot();
    sandbox.#instances.push(instance);
    for (let i = 1; i < spec.limits.instances; i++) sandbox.#instances.push((await sandbox.#boot()).instance);
    return { sandbox, configJson };
  }

  /** Starts chains; their results go to `deps.emit` as they come. */
  run(chains: ChainSpec[]): void {
    if (this.#broken !== null) {
      for (const c of chains) this.#failChain(c.cid, c.count, 0, 'crash', this.#broken);
      return;
    }
    if (this.#instances.length === 0) {
      this.#waiting.push(...chains);
      return;
    }
    const byInstance = new Map<IsolateInstance, ChainSpec[]>();
    for (const c of chains) {
      let best = this.#instances[0]!;
      for (const inst of this.#instances) if (inst.chains < best.chains) best = inst;
      best.chains++;
      this.#chains.set(c.cid, { cid: c.cid, count: c.count, instance: best, next: 0, itemStartedAt: performance.now(), itemStartedAtMs: Date.now(), yielded: false, cancelling: false, fetches: null });
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
    chain.yielded = false;
    const t = performance.now();
    const durationMs = roundMs(t - chain.itemStartedAt);
    let final: string;
    let failed = json.startsWith('{"status":"error"');
    if (failed && json.includes('"kind":"skip"')) final = SKIPPED_JSON;
    else final = finishResultJson(failed ? this.#mapStack(json) : json, durationMs, chain.fetches === null ? null : `[${chain.fetches.join(',')}]`);
    chain.fetches = null;
    this.#deps.emit([cid, index, final]);
    chain.next++;
    chain.itemStartedAt = t;
    chain.itemStartedAtMs = Date.now();
    if (failed) {
      for (let i = chain.next; i < chain.count; i++) this.#deps.emit([cid, i, SKIPPED_JSON]);
      chain.next = chain.count;
    }
    if (chain.next >= chain.count) this.#endChain(chain);
  }

  opStart(instance: IsolateInstance, id: number, cid: number, kind: string, arg: string, bytes?: ArrayBuffer): void {
    this.#ops.start(instance, id, cid, kind, arg, bytes);
  }

  /** A request of chain `cid`'s running event: bounded by that event's deadline, recorded with its result. */
  #fetch(cid: number, json: string, body: ArrayBuffer | null, signal: AbortSignal): Promise<FetchAnswer> {
    const chain = this.#chains.get(cid);
    const timeoutMs = this.spec.limits.timeoutMs;
    const fixed = (chain?.itemStartedAtMs ?? Date.now()) + timeoutMs;
    const index = chain?.next ?? 0;
    // The event's deadline, which moves when another invocation's call held the isolate past it
    // (see #afterCall); while such a call still runs, look again a tick later.
    const deadline = (): number => {
      const c = this.#chains.get(cid);
      if (c === undefined || c.next !== index) return fixed;
      const end = c.itemStartedAtMs + timeoutMs;
      return this.#blockedPast(c, end, Date.now()) ? Date.now() + WATCHDOG_TICK_MS : end;
    };
    this.#executor ??= new FetchExecutor(compileNetworkPolicy(this.spec.network), fetchExecutorOptions());
    return runFetch(this.#executor, json, body, { signal, deadline }, (record) => {
      const c = this.#chains.get(cid);
      if (c === undefined || c.next !== index) return; // that event is over; its result is gone
      (c.fetches ??= []).push(JSON.stringify(record));
    });
  }

  opCancel(instance: IsolateInstance, id: number): void {
    this.#ops.cancel(instance, id);
  }

  /** The chain that was running on `instance` when something catastrophic happened there. */
  culprit(instance: IsolateInstance | null, kind: SerializedError['kind'], message: string): Culprit {
    const cid = instance === null ? null : this.#runningChain(instance);
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
    for (const chain of this.#chains.values()) {
      if (chain.yielded || chain.cancelling || now - chain.itemStartedAtMs <= timeoutMs) continue;
      // A call running for this chain is stopped by isolated-vm's own timeout; see #afterCall.
      if (this.#runningChain(chain.instance) === chain.cid) continue;
      // Another invocation's call has held the isolate since before this one's deadline: judged
      // once it ends (one that runs out of time gives the others that time back, see #afterCall).
      if (this.#blockedPast(chain, chain.itemStartedAtMs + timeoutMs, now)) continue;
      this.#cancel(chain, 'TimeoutError', 'timeout', `exceeded timeoutMs (${timeoutMs} ms)`);
    }
    for (const inst of [...this.#instances]) {
      inst.sampleProgress(now);
      const call = inst.running;
      if (call === undefined || call.startedAt === 0) continue;
      const killedAt = this.#killedAt.get(inst);
      if (killedAt === undefined && now - call.startedAt > timeoutMs + WEDGE_GRACE_MS) {
        // isolated-vm did not manage to stop it (V8 does not interrupt some builtins, such as one
        // huge allocation's fill): dispose. Grown past its heap: a memory kill, else a timeout.
        const grewMb = Math.round((recentRss() - call.rssAtStart) / MiB);
        if (grewMb > this.spec.limits.memoryMb) this.#kill(inst, 'memory', `exceeded memoryMb (${this.spec.limits.memoryMb} MiB): the process grew by ${grewMb} MiB in one uninterruptible operation`);
        else this.#kill(inst, 'timeout', `exceeded timeoutMs (${timeoutMs} ms) and could not be interrupted`);
      }
    }
    for (const [inst, at] of this.#killedAt) {
      if (inst.running !== undefined && now - at > WEDGE_GRACE_MS) {
        this.#deps.fatal(`an isolate of ${this.spec.id} could not be stopped`, this.culprit(inst, 'timeout', `exceeded timeoutMs (${timeoutMs} ms) and could not be stopped; the sandbox process was restarted`));
        return;
      }
      if (inst.running === undefined) this.#killedAt.delete(inst);
    }
    if (now - this.#heapSampledAt >= HEAP_SAMPLE_MS) {
      this.#heapSampledAt = now;
      for (const inst of this.#instances) if (inst.chains > 0) this.#sampleHeap(inst);
    }
  }

  /** Disposes an isolate that outgrew its memory (the process-wide guard calls this too). */
  killForMemory(instance: IsolateInstance, message: string): void {
    this.#kill(instance, 'memory', message);
  }

  dispose(): void {
    this.#disposed = true;
    this.#executor?.close();
    for (const chain of [...this.#chains.values()]) this.#failChain(chain.cid, chain.count, chain.next, 'crash', `${this.spec.id} was unloaded while it ran`);
    this.#chains.clear();
    for (const inst of this.#instances.splice(0)) {
      this.#ops.forget(inst);
      inst.dispose();
    }
  }

  /** True while a call that started before `end` (and is not `chain`'s own) holds `chain`'s isolate past `end`. */
  #blockedPast(chain: ChainRun, end: number, now: number): boolean {
    const call = chain.instance.running;
    return now >= end && call !== undefined && call.startedAt > 0 && call.startedAt <= end && this.#runningChain(chain.instance) !== chain.cid;
  }

  #runningChain(instance: IsolateInstance): number | null {
    const call = instance.running;
    if (call === undefined || call.startedAt === 0) return null;
    const cid = instance.progress[0] as number;
    return this.#chains.get(cid)?.instance === instance ? cid : null;
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
    const blockedMs = Math.max(0, Date.now() - startedAtMs);
    for (const other of this.#chains.values()) if (other.instance === instance && other.cid !== cid) other.itemStartedAtMs += blockedMs;
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
  #kill(instance: IsolateInstance, kind: 'memory' | 'timeout', message: string, culprit = this.#runningChain(instance)): void {
    const at = this.#instances.indexOf(instance);
    if (at < 0) return;
    this.#instances.splice(at, 1);
    if (instance.running !== undefined) this.#killedAt.set(instance, Date.now());
    instance.dispose();
    this.#ops.forget(instance);
    for (const chain of [...this.#chains.values()]) {
      if (chain.instance !== instance) continue;
      if (chain.cid === culprit) this.#failChain(chain.cid, chain.count, chain.next, kind, message);
      else {
        this.#chains.delete(chain.cid);
        for (let i = chain.next; i < chain.count; i++) this.#deps.emit([chain.cid, i, culprit === null ? SUSPECT_JSON : SKIPPED_JSON]);
      }
    }
    if (!this.#disposed) void this.#replace();
  }

  async #replace(): Promise<void> {
    this.#booting++;
    try {
      const { instance } = await this.#boot();
      if (this.#disposed) return instance.dispose();
      this.#instances.push(instance);
      const waiting = this.#waiting;
      this.#waiting = [];
      if (waiting.length > 0) this.run(waiting);
    } catch (e) {
      this.#broken = `the function could not be re-initialised after its isolate was recycled: ${(e as Error).message}`;
      if (this.#instances.length === 0) {
        const waiting = this.#waiting;
        this.#waiting = [];
        this.run(waiting);
      }
    } finally {
      this.#booting--;
    }
  }

  #failChain(cid: number, count: number, from: number, kind: SerializedError['kind'], message: string): void {
    const chain = this.#chains.get(cid);
    if (chain !== undefined) this.#endChain(chain);
    if (from < count) this.#deps.emit([cid, from, failureJson(kind, message, chain === undefined ? 0 : performance.now() - chain.itemStartedAt)]);
    for (let i = from + 1; i < count; i++) this.#deps.emit([cid, i, SKIPPED_JSON]);
  }

  #endChain(chain: ChainRun): void {
    if (this.#chains.get(chain.cid) !== chain) return;
    this.#chains.delete(chain.cid);
    chain.instance.chains--;
  }

  #sampleHeap(instance: IsolateInstance): void {
    instance.isolate.getHeapStatistics().then((s) => {
      const used = s.used_heap_size + s.externally_allocated_size;
      if (used > this.spec.limits.memoryMb * 2 * MiB) this.#kill(instance, 'memory', `exceeded memoryMb (${this.spec.limits.memoryMb} MiB): heap at ${Math.round(used / MiB)} MiB`);
    }, () => {});
  }

  async #boot(): Promise<{ instance: IsolateInstance; configJson: string }> {
    const spec = this.spec;
    const instance = new IsolateInstance(spec, {
      report: (inst, cid, index, json) => this.report(inst, cid, index, json),
      opStart: (inst, id, cid, kind, arg, bytes) => this.opStart(inst, id, cid, kind, arg, bytes),
      opCancel: (inst, id) => this.opCancel(inst, id),
      catastrophic: (inst, message) => {
        const kind = /out.of.memory/i.test(message) ? 'memory' : 'crash';
        const detail = `${kind === 'memory' ? `exceeded memoryMb (${spec.limits.memoryMb} MiB): ` : ''}${message}; the sandbox process was restarted`;
        this.#deps.fatal(`${spec.id}: ${message}`, this.culprit(inst, kind, detail));
      },
    });
    try {
      const answer = JSON.parse(await instance.boot(spec, this.#cache, this.#deps.limits)) as { ok: boolean; config?: unknown; error?: { stack: string } };
      if (!answer.ok) throw new SandboxError(`${spec.name}: top-level code threw: ${this.#mapper.map(answer.error?.stack ?? '')}`, { code: 'ERR_SANDBOX_LOAD' });
      return { instance, configJson: JSON.stringify(answer.config) };
    } catch (e) {
      instance.dispose();
      if (e instanceof SandboxError) throw e;
      const raw = e instanceof Error ? e : new Error(String(e));
      let message = raw.message;
      if (/memory limit|disposed/i.test(message)) message = `top-level code exceeded memoryMb (${spec.limits.memoryMb} MiB)`;
      else if (/timed out/i.test(message)) message = `top-level code ran longer than ${TOP_LEVEL_TIMEOUT_MS} ms (do heavy initialisation lazily, in the handler)`;
      else if (typeof raw.stack === 'string') message = this.#mapper.map(raw.stack);
      throw new SandboxError(`${spec.name}: cannot load: ${message}`, { code: 'ERR_SANDBOX_LOAD', cause: e });
    }
  }

  #mapStack(json: string): string {
    try {
      const r = JSON.parse(json) as { error: { stack: string; kind: string } };
      if (r.error.kind !== 'handler' && r.error.kind !== 'non-retriable') return json;
      r.error.stack = this.#mapper.map(r.error.stack);
      return JSON.stringify(r);
    } catch {
      return json;
    }
  }
}
