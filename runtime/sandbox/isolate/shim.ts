/**
 * The trusted bootstrap that runs in every isolate before the user's bundle: it installs `console`
 * and the Web APIs, and returns the API the child calls (as References). Host functions arrive as
 * arguments and live only in closures, so user code never sees an isolated-vm object. The whole
 * shim is strict code: V8 hides strict callers from `Function.prototype.caller` and
 * `Error.prepareStackTrace` call sites.
 *
 * Invocations run in **chains** (one key's events, one after another); many chains are in flight
 * at once, interleaved at their awaits. Every entry into the isolate is a call from the child with
 * a timeout (start, next, resume, cancel), and before user code runs the shim writes which
 * invocation it belongs to into `progress`: a call that times out names its culprit exactly, and
 * the isolate survives for the other invocations. Each event's result is reported as it is known,
 * batched per microtask round (see `post`).
 *
 * `bootstrap` and the helpers it is given run INSIDE the isolate (shim-source.ts ships them with
 * `toString()`), so they must stay self-contained; they are TypeScript only so that they are
 * type-checked.
 */
import type { ShimApi, ShimBridge, ShimLib, ShimLimits } from './shim-api.ts';
import type { ChainItem } from './shim-context.ts';
import type { Handler } from './shim-module.ts';
import type { OutputOwner } from './shim-output.ts';
import type { ResultOwner } from './shim-result.ts';
import type { StateHolder } from './shim-state.ts';

interface Chain {
  cid: number;
  items: ChainItem[];
  index: number;
  /** State per event key (a chain of a partition-ordered function may span keys). */
  holders: Map<string, StateHolder>;
  current: Invocation | null;
}

interface Invocation extends ResultOwner {
  chain: Chain;
  index: number;
  abort: ((e: unknown) => void) | null;
  ops: Set<number> | null;
  startedAt: number;
  holder: StateHolder | null;
  /** Open fetches (shim-fetch.ts) and the invocation's number (unused by the child: ops carry the chain). */
  fetches: Set<number> | null;
  id: number;
}

/** Installs the globals and returns the shim's API; runs once per isolate, before the bundle. */
export function bootstrap(bridge: ShimBridge, lib: ShimLib): ShimApi {
  // Captured before user code runs, so a handler that patches JSON, Object or Date cannot corrupt results.
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const now = Date.now;
  const freeze = Object.freeze;
  const keysOf = Object.keys;
  const isArray = Array.isArray;
  const PromiseCtor = Promise;
  const g = globalThis as unknown as Record<string, unknown>;
  const { report, functionName, progress } = bridge;
  const YIELDED = -1;
  const limits = parse(bridge.limitsJson) as ShimLimits;
  const env = freeze(parse(bridge.envJson) as Record<string, string>);
  const { format, describe } = lib.createFormatter();
  const resultJson = lib.createResultJson(limits, describe);
  const readModule = lib.createModuleReader();
  const ops = lib.createOps<Invocation>(bridge.opStart, bridge.opCancel);
  const chains = new Map<number, Chain>();
  let handler: Handler | null = null;
  /** The invocation the running task belongs to: console and timers act for it. */
  let owner: Invocation | null = null;
  let taskStart = 0;
  let taskBudget = 0;

  function fail(inv: OutputOwner, e: unknown): void {
    const i = inv as Invocation;
    if (i.failed) return;
    i.failed = true;
    i.failure = e;
    i.abort?.(e);
  }

  const output = lib.createOutput(limits, format, fail);
  lib.installWeb(g, bridge.randomBytes);
  lib.installEncoding(g);
  lib.installUrl(g, bridge.urlOp);
  lib.installTimers<Invocation>(g, ops.start, ops.cancel, () => owner, fail);
  lib.installAbort<Invocation>(g, () => owner, fail);
  const headersKit = lib.installHeaders(g);
  const bodiesKit = lib.installRequestResponse(g, headersKit);
  const fetchBridge = lib.createFetchBridge(ops, () => owner);
  const endFetch = lib.installFetch<Invocation>(g, fetchBridge, () => owner, { headers: headersKit, bodies: bodiesKit });
  const makeContext = lib.installContext<Invocation>(g, { output, ops, createState: lib.createState, limits, env, functionName }, () => owner);

  // Results go out in batches: one callback per microtask round rather than one per event (the
  // callback was half of a trivial invocation's cost inside the isolate: 7 of 14 µs, measured).
  // A chain goes on to its next event only once the batch holding its last result went (carryOn):
  // an isolate lost in a handler (a memory kill) never takes that chain's finished events with it,
  // so the event the child blames is the one that ran. Results of other chains' events finished
  // in the same round can be lost with it: those events run again, uncharged (nothing of them was
  // committed). A call cut off by its timeout keeps its batch in `pending`: every entry below
  // sends it before doing anything else.
  const then = PromiseCtor.prototype.then;
  const resolved = PromiseCtor.resolve();
  const applyFn = Reflect.apply;
  let pending = '';
  let flushQueued = false;
  /** Chains to run on once the pending batch is sent. */
  let carried: Chain[] = [];

  function post(cid: number, index: number, json: string): void {
    if (!flushQueued) {
      flushQueued = true;
      applyFn(then, resolved, [flush]);
    }
    pending += `${cid},${index},${json.length}:${json}`;
  }

  function flush(): void {
    flushQueued = false;
    if (pending !== '') {
      const batch = pending;
      pending = '';
      report(batch);
    }
    const list = carried;
    carried = [];
    for (let i = 0; i < list.length; i++) {
      const chain = list[i] as Chain;
      if (chains.get(chain.cid) === chain) run(chain, false);
    }
  }

  /** Runs `chain` on once the results known so far are sent. */
  function carryOn(chain: Chain): void {
    if (pending === '') run(chain, false);
    else carried.push(chain);
  }

  function enter(inv: Invocation): void {
    owner = inv;
    progress[0] = inv.chain.cid;
    progress[1] = inv.index;
    progress[2] = inv.startedAt;
  }

  function budgetLeft(): boolean {
    return now() - taskStart < taskBudget;
  }

  /** Runs the chain's next items until one awaits, fails, the chain ends, or the call's budget is spent. */
  function run(chain: Chain, first: boolean): void {
    for (let started = first ? 0 : 1; chain.index < chain.items.length; started++) {
      if (started > 0 && !budgetLeft()) {
        post(chain.cid, YIELDED, '');
        return;
      }
      const inv: Invocation = {
        chain, index: chain.index, logs: '', logCount: 0, logChars: 0, logsCut: false, emits: '', emitCount: 0, emitChars: 0,
        writes: null, writeChars: 0, failed: false, failure: undefined, verdict: null, abort: null, ops: null, done: false, startedAt: now(), holder: null,
        fetches: null, id: chain.cid,
      };
      chain.current = inv;
      const item = chain.items[chain.index] as ChainItem;
      enter(inv);
      let r: unknown;
      try {
        if (handler === null) throw new Error('the function is not initialised');
        r = handler(item.event, makeContext(inv, item));
      } catch (e) {
        fail(inv, e);
      }
      const thenable = r !== null && (typeof r === 'object' || typeof r === 'function') && typeof (r as { then?: unknown }).then === 'function';
      if (thenable && !inv.failed) {
        // `abort` lets a throwing timer callback or a bad emit fail the invocation without waiting for the handler.
        new PromiseCtor((resolve, reject) => {
          inv.abort = reject;
          ((r as { then: (a: unknown, b: unknown) => unknown }).then).call(r, resolve, reject);
        }).then(() => settle(inv), (e: unknown) => { fail(inv, e); settle(inv); });
        return;
      }
      if (!complete(inv)) return;
      if (chain.index < chain.items.length) return carryOn(chain);
    }
    chains.delete(chain.cid);
  }

  /** An async handler finished: report it and carry on with the chain in the same call. */
  function settle(inv: Invocation): void {
    if (complete(inv)) carryOn(inv.chain);
  }

  /** Reports `inv` (once); true when its chain may go on. */
  function complete(inv: Invocation): boolean {
    if (inv.done) return false;
    inv.done = true;
    endFetch(inv);
    if (inv.ops !== null) for (const id of inv.ops) ops.cancel(id);
    if (owner === inv) owner = null;
    const chain = inv.chain;
    if (chain.current === inv) chain.current = null;
    let json = resultJson(inv);
    if (json.length > limits.maxResultChars) {
      json = `{"status":"error","error":{"name":"RangeError","message":${stringify(`the invocation's output (emits, logs, state) is ${json.length} characters, over the ${limits.maxResultChars} limit`)},"stack":"","kind":"handler"},"logs":[]}`;
      inv.failed = true;
    }
    post(chain.cid, inv.index, json);
    if (inv.failed || inv.verdict !== null) {
      chains.delete(chain.cid);
      return false;
    }
    const held = inv.holder?.state ?? null;
    if (inv.writes !== null && held !== null) {
      for (const name of keysOf(inv.writes)) {
        const v = inv.writes[name];
        if (v === null || v === undefined) delete held[name];
        else held[name] = v;
      }
    }
    chain.index++;
    return true;
  }

  function beginTask(budgetMs: number): void {
    taskStart = now();
    taskBudget = budgetMs;
  }

  function start(chainsJson: string, budgetMs: number): void {
    const list = parse(chainsJson) as { c: number; items: ChainItem[]; state: Record<string, string> | null }[];
    beginTask(budgetMs); // after parsing: the budget bounds the handlers' time, not ours
    flush();
    for (let i = 0; i < list.length; i++) {
      const spec = list[i] as { c: number; items: ChainItem[]; state: Record<string, string> | null };
      const first = spec.items[0];
      const chain: Chain = { cid: spec.c, items: isArray(spec.items) ? spec.items : [], index: 0, holders: new Map(), current: null };
      // The state sent along is the first event's key's.
      if (spec.state !== null && first !== undefined && typeof first.event.key === 'string') chain.holders.set(first.event.key, { state: spec.state, loading: null });
      chains.set(chain.cid, chain);
      if (i > 0 && !budgetLeft()) post(chain.cid, YIELDED, '');
      else run(chain, true);
    }
  }

  function next(cidList: string, budgetMs: number): void {
    beginTask(budgetMs);
    flush();
    const cids = cidList.split(',');
    for (let i = 0; i < cids.length; i++) {
      const chain = chains.get(Number(cids[i]));
      if (chain === undefined || chain.current !== null) continue;
      if (i > 0 && !budgetLeft()) post(chain.cid, YIELDED, '');
      else run(chain, true);
    }
  }

  function resume(id: number, ok: boolean, payload: string, budgetMs: number, bytes?: ArrayBuffer): void {
    beginTask(budgetMs);
    flush();
    const op = ops.take(id);
    if (op === undefined) return; // cancelled meanwhile
    if (op.owner.done) return;
    enter(op.owner);
    if (ok) op.resolve(bytes === undefined ? payload : [payload, bytes]);
    else {
      const e = parse(payload) as { name: string; message: string };
      const error = e.name === 'TypeError' ? new TypeError(e.message) : new Error(e.message);
      if (e.name !== 'TypeError') error.name = e.name;
      op.reject(error);
    }
  }

  function cancel(cid: number, name: string, kind: string, message: string): void {
    flush();
    const chain = chains.get(cid);
    const inv = chain?.current;
    if (chain === undefined) return;
    if (inv === null || inv === undefined) {
      chains.delete(cid);
      return;
    }
    inv.verdict = { name, kind, message };
    complete(inv);
  }

  function init(factory: () => unknown): string {
    try {
      const exported = readModule(factory);
      handler = exported.handler;
      return `{"ok":true,"config":${exported.configJson}}`;
    } catch (e) {
      return stringify({ ok: false, error: describe(e) });
    }
  }

  return { init, start, next, resume, cancel };
}
