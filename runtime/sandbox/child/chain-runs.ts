/**
 * The chains of one function version in flight in the child: which isolate each one runs on, which
 * of its events runs now and since when, and the results it still owes. Every result of a chain is
 * sent exactly once: reported by the shim, or failed or skipped here when the chain cannot go on.
 */
import type { SerializedError } from '../../types.ts';
import type { ChainSpec, ResultPart } from '../protocol.ts';
import { PLAIN_OK_JSON, SKIPPED_JSON, SUSPECT_JSON, failureJson, finishResultJson, roundMs } from '../results.ts';
import type { IsolateInstance } from './isolate-instance.ts';

/** One chain in flight. */
export interface ChainRun {
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

/** The chains in flight, by cid. */
export class ChainRuns {
  readonly #runs = new Map<number, ChainRun>();
  readonly #emit: (part: ResultPart) => void;
  readonly #mapStack: (resultJson: string) => string;

  /** `emit` sends one result to the parent; `mapStack` maps a failed result's stack to the sources. */
  constructor(emit: (part: ResultPart) => void, mapStack: (resultJson: string) => string) {
    this.#emit = emit;
    this.#mapStack = mapStack;
  }

  get(cid: number): ChainRun | undefined {
    return this.#runs.get(cid);
  }

  /** Places chain `c` on the instance with the fewest chains; returns that instance. */
  place(c: ChainSpec, instances: readonly IsolateInstance[]): IsolateInstance {
    let best = instances[0]!;
    for (const inst of instances) if (inst.chains < best.chains) best = inst;
    best.chains++;
    this.#runs.set(c.cid, { cid: c.cid, count: c.count, instance: best, next: 0, itemStartedAt: performance.now(), itemStartedAtMs: Date.now(), yielded: false, cancelling: false, fetches: null });
    return best;
  }

  /** The chain whose invocation the call running on `instance` now runs for, if any. */
  runningOn(instance: IsolateInstance): number | null {
    const call = instance.running;
    if (call === undefined || call.startedAt === 0) return null;
    const cid = instance.progress[0] as number;
    return this.#runs.get(cid)?.instance === instance ? cid : null;
  }

  /** True while a call that started before `end` (and is not `chain`'s own) holds `chain`'s isolate past `end`. */
  blockedPast(chain: ChainRun, end: number, now: number): boolean {
    const call = chain.instance.running;
    return now >= end && call !== undefined && call.startedAt > 0 && call.startedAt <= end && this.runningOn(chain.instance) !== chain.cid;
  }

  /** Chains whose running event awaits past its deadline and is not being cancelled yet. */
  *overdue(now: number, timeoutMs: number): Generator<ChainRun> {
    for (const chain of this.#runs.values()) {
      if (chain.yielded || chain.cancelling || now - chain.itemStartedAtMs <= timeoutMs) continue;
      // A call running for this chain is stopped by isolated-vm's own timeout; see FunctionSandbox's #afterCall.
      if (this.runningOn(chain.instance) === chain.cid) continue;
      // Another invocation's call has held the isolate since before this one's deadline: judged
      // once it ends (one that runs out of time gives the others that time back, see giveTime).
      if (this.blockedPast(chain, chain.itemStartedAtMs + timeoutMs, now)) continue;
      yield chain;
    }
  }

  /** Moves the deadlines of `instance`'s chains other than `except` by `ms`: a call held the isolate that long. */
  giveTime(instance: IsolateInstance, except: number, ms: number): void {
    for (const other of this.#runs.values()) if (other.instance === instance && other.cid !== except) other.itemStartedAtMs += ms;
  }

  /** The shim's result `json` for event `index` of `chain`: sent with what only the child knows; a failure ends the chain. */
  finish(chain: ChainRun, index: number, json: string): void {
    chain.yielded = false;
    const t = performance.now();
    const durationMs = roundMs(t - chain.itemStartedAt);
    let final: string | number;
    let failed = json.startsWith('{"status":"error"');
    if (failed && json.includes('"kind":"skip"')) final = SKIPPED_JSON;
    else if (json === PLAIN_OK_JSON && chain.fetches === null) final = durationMs;
    else final = finishResultJson(failed ? this.#mapStack(json) : json, durationMs, chain.fetches === null ? null : `[${chain.fetches.join(',')}]`);
    chain.fetches = null;
    this.#emit([chain.cid, index, final]);
    chain.next++;
    chain.itemStartedAt = t;
    chain.itemStartedAtMs = Date.now();
    if (failed) {
      for (let i = chain.next; i < chain.count; i++) this.#emit([chain.cid, i, SKIPPED_JSON]);
      chain.next = chain.count;
    }
    if (chain.next >= chain.count) this.#end(chain);
  }

  /** Fails event `from` of chain `cid` (which need not be in flight) and skips the rest. */
  fail(cid: number, count: number, from: number, kind: SerializedError['kind'], message: string): void {
    const chain = this.#runs.get(cid);
    if (chain !== undefined) this.#end(chain);
    if (from < count) this.#emit([cid, from, failureJson(kind, message, chain === undefined ? 0 : performance.now() - chain.itemStartedAt)]);
    for (let i = from + 1; i < count; i++) this.#emit([cid, i, SKIPPED_JSON]);
  }

  /** `instance` is gone: the culprit's chain fails, the others run again (suspects, when there is no culprit). */
  dropInstance(instance: IsolateInstance, culprit: number | null, kind: SerializedError['kind'], message: string): void {
    for (const chain of [...this.#runs.values()]) {
      if (chain.instance !== instance) continue;
      if (chain.cid === culprit) this.fail(chain.cid, chain.count, chain.next, kind, message);
      else {
        this.#runs.delete(chain.cid);
        for (let i = chain.next; i < chain.count; i++) this.#emit([chain.cid, i, culprit === null ? SUSPECT_JSON : SKIPPED_JSON]);
      }
    }
  }

  /** Fails every chain in flight (their function is unloaded) and forgets them all. */
  failAll(message: string): void {
    for (const chain of [...this.#runs.values()]) this.fail(chain.cid, chain.count, chain.next, 'crash', message);
    this.#runs.clear();
  }

  #end(chain: ChainRun): void {
    if (this.#runs.get(chain.cid) !== chain) return;
    this.#runs.delete(chain.cid);
    chain.instance.chains--;
  }
}
