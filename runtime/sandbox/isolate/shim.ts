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
 * the isolate survives for the other invocations. Each event's result is reported as it is known.
 *
 * `bootstrap` and the helpers it is given run INSIDE the isolate (shipped with `toString()`), so
 * they must stay self-contained; they are TypeScript only so that they are type-checked.
 */
import { installAbort } from './shim-abort.ts';
import { createFormatter } from './shim-console.ts';
import { installEncoding } from './shim-encoding.ts';
import { installFetch, type FetchBridge } from './shim-fetch.ts';
import { installHeaders } from './shim-headers.ts';
import { createOutput, type OutputLimits, type OutputOwner } from './shim-output.ts';
import { createState, type StateHolder, type StateLimits, type StateOwner } from './shim-state.ts';
import { installRequestResponse } from './shim-request-response.ts';
import { installTimers } from './shim-timers.ts';
import { installUrl, type UrlOp } from './shim-url.ts';
import { installWeb } from './shim-web.ts';

/** Prefix of every script fnrun itself compiles into an isolate; such frames are dropped from user stacks. */
export const INTERNAL_FILENAME_PREFIX = 'fnrun:///sandbox/';
/** Name the shim is compiled under. */
export const SHIM_FILENAME = `${INTERNAL_FILENAME_PREFIX}shim.js`;
/** `report(cid, YIELDED, '')`: the chain stopped to let the call end; the child calls `next` for it. */
export const YIELDED = -1;

/** Caps the shim enforces per invocation (README "Caps"). */
export interface ShimLimits extends OutputLimits, StateLimits {
  maxErrorMessageChars: number;
  maxStackChars: number;
  maxResultChars: number;
}

/** The host side of the isolate, as the shim sees it. */
export interface ShimBridge {
  /** Ignored (fire-and-forget) callback: one event's result, or YIELDED. */
  report(cid: number, index: number, json: string): void;
  /** Ignored callback: start host operation `id` for chain `cid` (`sleep` ms, `state`, `fetch` with its body bytes). */
  opStart(id: number, cid: number, kind: string, arg: string, bytes?: ArrayBuffer): void;
  opCancel(id: number): void;
  /** Shared with the child: [cid, index, startedAt ms] of the invocation user code runs for now. */
  progress: Float64Array;
  urlOp: UrlOp;
  randomBytes(n: number): ArrayBuffer;
  functionName: string;
  envJson: string;
  limitsJson: string;
}

/** The self-contained helpers the bootstrap calls (shipped as source next to it). */
export interface ShimLib {
  createFormatter: typeof createFormatter;
  createOutput: typeof createOutput;
  createState: typeof createState;
  installEncoding: typeof installEncoding;
  installUrl: typeof installUrl;
  installWeb: typeof installWeb;
  installTimers: typeof installTimers;
  installAbort: typeof installAbort;
  installHeaders: typeof installHeaders;
  installRequestResponse: typeof installRequestResponse;
  installFetch: typeof installFetch;
}

/** What the child calls. Each call gets a timeout; `budgetMs` is how long it may keep starting work. */
export interface ShimApi {
  /** Returns `{"ok":true,"config":…}` or `{"ok":false,"error":{name,message,stack}}` as JSON text. */
  init(factory: () => unknown): string;
  /** Starts chains: `[{"c":cid,"items":[{event,attempt,idem}…],"state":{…}|null}, …]`. */
  start(chainsJson: string, budgetMs: number): void;
  /** Continues chains that yielded (`cids`: comma-separated; only primitives cross into an isolate cheaply). */
  next(cids: string, budgetMs: number): void;
  /** Settles host operation `id`: ok with its payload (and bytes, for a fetch), or failed with `{name, message}` JSON. */
  resume(id: number, ok: boolean, payload: string, budgetMs: number, bytes?: ArrayBuffer): void;
  /** Fails the running invocation of chain `cid` (a timeout the child saw) and ends the chain. */
  cancel(cid: number, name: string, kind: string, message: string): void;
}

interface Item { event: { key?: unknown }; attempt: number; idem: string }

interface Chain {
  cid: number;
  items: Item[];
  index: number;
  /** State per event key (a chain of a partition-ordered function may span keys). */
  holders: Map<string, StateHolder>;
  current: Invocation | null;
}

interface Invocation extends OutputOwner, StateOwner {
  chain: Chain;
  index: number;
  failed: boolean;
  failure: unknown;
  /** Set by cancel(): the child's verdict replaces the handler's own outcome. */
  verdict: { name: string; kind: string; message: string } | null;
  abort: ((e: unknown) => void) | null;
  ops: Set<number> | null;
  startedAt: number;
  holder: StateHolder | null;
  /** Open fetches (shim-fetch.ts) and the invocation's number (unused by the child: ops carry the chain). */
  fetches: Set<number> | null;
  id: number;
}

interface Op { inv: Invocation; resolve(v: unknown): void; reject(e: unknown): void }

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
  const apply = Reflect.apply;
  const sliceString = String.prototype.slice;
  const g = globalThis as unknown as Record<string, unknown>;
  const { report, opStart, opCancel, functionName, progress } = bridge;
  const YIELDED = -1;
  const limits = parse(bridge.limitsJson) as ShimLimits;
  const env = freeze(parse(bridge.envJson) as Record<string, string>);
  const CANCELLED = freeze({ cancelled: true });
  const NON_RETRIABLE = Symbol.for('fnrun.non-retriable');
  const NO_STATE: StateHolder = { state: null, loading: null };
  const { format, describe } = lib.createFormatter();
  const chains = new Map<number, Chain>();
  const ops = new Map<number, Op>();
  let opSeq = 0;
  let handler: ((event: unknown, ctx: unknown) => unknown) | null = null;
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
  lib.installTimers<Invocation>(g, startOp, cancelOp, () => owner, fail);
  lib.installAbort<Invocation>(g, () => owner, fail);
  const headersKit = lib.installHeaders(g);
  const bodiesKit = lib.installRequestResponse(g, headersKit);
  // A fetch is a host operation like a timer: its answer resumes the isolate in a timed call.
  const fetchOps = new Map<number, number>();
  const fetchBridge: FetchBridge = {
    fetchStart: {
      apply: (_recv, [, requestId, json, body]) => {
        const inv = owner;
        if (inv === null || inv.done) return PromiseCtor.resolve([stringify({ ok: false, kind: 'aborted', message: 'fetch was aborted: its invocation has ended' }), null]);
        const op = startOp(inv, 'fetch', json, body ?? undefined);
        fetchOps.set(requestId, op.id);
        const forget = () => { fetchOps.delete(requestId); };
        op.promise.then(forget, forget);
        return op.promise;
      },
    },
    fetchAbort: (requestId) => {
      const opId = fetchOps.get(requestId);
      if (opId !== undefined) cancelOp(opId);
    },
  };
  const endFetch = lib.installFetch<Invocation>(g, fetchBridge, () => owner, { headers: headersKit, bodies: bodiesKit });

  function startOp(inv: Invocation, kind: string, arg: string, bytes?: ArrayBuffer): { id: number; promise: Promise<unknown> } {
    const id = ++opSeq;
    const promise = new PromiseCtor<unknown>((resolve, reject) => ops.set(id, { inv, resolve, reject }));
    (inv.ops ??= new Set()).add(id);
    if (bytes === undefined) opStart(id, inv.chain.cid, kind, arg);
    else opStart(id, inv.chain.cid, kind, arg, bytes);
    return { id, promise };
  }

  function cancelOp(id: number): void {
    const op = ops.get(id);
    if (op === undefined) return;
    ops.delete(id);
    op.inv.ops?.delete(id);
    opCancel(id);
    op.reject(CANCELLED);
  }

  const consoleLog = (level: string) => (...a: unknown[]) => { if (owner !== null) output.log(owner, level, a); };
  const consoleObject = freeze({
    debug: consoleLog('debug'), info: consoleLog('info'), warn: consoleLog('warn'), error: consoleLog('error'),
    log: consoleLog('info'), trace: consoleLog('debug'), dir: consoleLog('info'), table: consoleLog('info'),
  });
  Object.defineProperty(g, 'console', { value: consoleObject, writable: true, configurable: true, enumerable: false });

  function enter(inv: Invocation): void {
    owner = inv;
    progress[0] = inv.chain.cid;
    progress[1] = inv.index;
    progress[2] = inv.startedAt;
  }

  function budgetLeft(): boolean {
    return now() - taskStart < taskBudget;
  }

  function makeContext(inv: Invocation, item: Item): unknown {
    const log = freeze({
      debug: (...a: unknown[]) => output.log(inv, 'debug', a),
      info: (...a: unknown[]) => output.log(inv, 'info', a),
      warn: (...a: unknown[]) => output.log(inv, 'warn', a),
      error: (...a: unknown[]) => output.log(inv, 'error', a),
    });
    const chain = inv.chain;
    const key = typeof item.event.key === 'string' ? item.event.key : null;
    let holder: StateHolder = NO_STATE;
    if (key !== null) {
      holder = chain.holders.get(key) ?? { state: null, loading: null };
      chain.holders.set(key, holder);
    }
    inv.holder = holder;
    const state = lib.createState(holder, inv, key, limits, (done) => {
      startOp(inv, 'state', key ?? '').promise.then((json) => done(null, json as string), (e) => done(e, null));
    });
    return freeze({
      emit: (type: unknown, key: unknown, data: unknown) => output.emit(inv, type, key, data),
      log, attempt: item.attempt, env, functionName, idempotencyKey: item.idem, state,
    });
  }

  /** Runs the chain's next items until one awaits, fails, the chain ends, or the call's budget is spent. */
  function run(chain: Chain, first: boolean): void {
    for (let started = first ? 0 : 1; chain.index < chain.items.length; started++) {
      if (started > 0 && !budgetLeft()) {
        report(chain.cid, YIELDED, '');
        return;
      }
      const inv: Invocation = {
        chain, index: chain.index, logs: '', logCount: 0, logChars: 0, logsCut: false, emits: '', emitCount: 0, emitChars: 0,
        writes: null, writeChars: 0, failed: false, failure: undefined, verdict: null, abort: null, ops: null, done: false, startedAt: now(), holder: null,
        fetches: null, id: chain.cid,
      };
      chain.current = inv;
      const item = chain.items[chain.index] as Item;
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
    }
    chains.delete(chain.cid);
  }

  /** An async handler finished: report it and carry on with the chain in the same call. */
  function settle(inv: Invocation): void {
    if (complete(inv)) run(inv.chain, false);
  }

  /** Reports `inv` (once); true when its chain may go on. */
  function complete(inv: Invocation): boolean {
    if (inv.done) return false;
    inv.done = true;
    endFetch(inv);
    if (inv.ops !== null) for (const id of inv.ops) cancelOp(id);
    if (owner === inv) owner = null;
    const chain = inv.chain;
    if (chain.current === inv) chain.current = null;
    let json = inv.failed || inv.verdict !== null ? errorJson(inv) : okJson(inv);
    if (json.length > limits.maxResultChars) {
      json = `{"status":"error","error":{"name":"RangeError","message":${stringify(`the invocation's output (emits, logs, state) is ${json.length} characters, over the ${limits.maxResultChars} limit`)},"stack":"","kind":"handler"},"logs":[]}`;
      inv.failed = true;
    }
    report(chain.cid, inv.index, json);
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

  function okJson(inv: Invocation): string {
    let state = '';
    if (inv.writes !== null) {
      let n = 0;
      for (const name of keysOf(inv.writes)) {
        const v = inv.writes[name];
        state += `${n++ === 0 ? '' : ','}${stringify(name)}:${typeof v === 'string' ? stringify(v) : 'null'}`;
      }
      state = `,"state":{${state}}`;
    }
    return `{"status":"ok","emits":[${inv.emits}],"logs":[${inv.logs}]${state}}`;
  }

  function errorJson(inv: Invocation): string {
    let name: string;
    let message: string;
    let stack: string;
    let kind = 'handler';
    if (inv.verdict !== null) {
      ({ name, message, kind } = inv.verdict);
      stack = `${name}: ${message}`;
    } else {
      const d = describe(inv.failure);
      name = cut(text(d.name), 200);
      message = cut(text(d.message), limits.maxErrorMessageChars);
      stack = cut(text(d.stack), limits.maxStackChars);
      // Thrown on purpose, or named so (it may come from another bundle), or a subclass that
      // renamed itself (the SDK class's symbol, runtime/sdk.ts): never retried.
      if (name === 'NonRetriableError' || nonRetriableBrand(inv.failure)) kind = 'non-retriable';
    }
    // stringify of strings only: an object would go through a user-defined toJSON.
    return `{"status":"error","error":{"name":${stringify(name)},"message":${stringify(message)},"stack":${stringify(stack)},"kind":"${kind}"},"logs":[${inv.logs}]}`;
  }

  function nonRetriableBrand(e: unknown): boolean {
    try {
      return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[NON_RETRIABLE] === true;
    } catch {
      return false; // a Proxy that throws is not one
    }
  }

  function cut(s: string, max: number): string {
    return s.length <= max ? s : `${apply(sliceString, s, [0, max]) as string}… [${s.length - max} more characters]`;
  }

  function text(value: unknown): string {
    return typeof value === 'string' ? value : '[fnrun] not a string (was String replaced?)';
  }

  function beginTask(budgetMs: number): void {
    taskStart = now();
    taskBudget = budgetMs;
  }

  function start(chainsJson: string, budgetMs: number): void {
    const list = parse(chainsJson) as { c: number; items: Item[]; state: Record<string, string> | null }[];
    beginTask(budgetMs); // after parsing: the budget bounds the handlers' time, not ours
    for (let i = 0; i < list.length; i++) {
      const spec = list[i] as { c: number; items: Item[]; state: Record<string, string> | null };
      const first = spec.items[0];
      const chain: Chain = { cid: spec.c, items: isArray(spec.items) ? spec.items : [], index: 0, holders: new Map(), current: null };
      // The state sent along is the first event's key's.
      if (spec.state !== null && first !== undefined && typeof first.event.key === 'string') chain.holders.set(first.event.key, { state: spec.state, loading: null });
      chains.set(chain.cid, chain);
      if (i > 0 && !budgetLeft()) report(chain.cid, YIELDED, '');
      else run(chain, true);
    }
  }

  function next(cidList: string, budgetMs: number): void {
    beginTask(budgetMs);
    const cids = cidList.split(',');
    for (let i = 0; i < cids.length; i++) {
      const chain = chains.get(Number(cids[i]));
      if (chain === undefined || chain.current !== null) continue;
      if (i > 0 && !budgetLeft()) report(chain.cid, YIELDED, '');
      else run(chain, true);
    }
  }

  function resume(id: number, ok: boolean, payload: string, budgetMs: number, bytes?: ArrayBuffer): void {
    const op = ops.get(id);
    if (op === undefined) return; // cancelled meanwhile
    ops.delete(id);
    op.inv.ops?.delete(id);
    if (op.inv.done) return;
    beginTask(budgetMs);
    enter(op.inv);
    if (ok) op.resolve(bytes === undefined ? payload : [payload, bytes]);
    else {
      const e = parse(payload) as { name: string; message: string };
      const error = e.name === 'TypeError' ? new TypeError(e.message) : new Error(e.message);
      if (e.name !== 'TypeError') error.name = e.name;
      op.reject(error);
    }
  }

  function cancel(cid: number, name: string, kind: string, message: string): void {
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
      const mod = factory() as { default?: unknown; config?: unknown } | undefined | null;
      if (mod === undefined || mod === null) {
        // An empty file (or one without exports) bundles to nothing.
        throw new TypeError('the module exports nothing: export default a function (and export const config), or export default defineFunction({ ..., handler })');
      }
      const def = mod.default as { handler?: unknown } | undefined | null;
      let config: unknown;
      if (typeof def === 'function') {
        handler = def as (event: unknown, ctx: unknown) => unknown;
        config = mod.config;
      } else if (typeof def === 'object' && def !== null && typeof def.handler === 'function') {
        handler = def.handler as (event: unknown, ctx: unknown) => unknown;
        const c: Record<string, unknown> = {};
        for (const k of keysOf(def)) if (k !== 'handler') c[k] = (def as Record<string, unknown>)[k];
        config = c;
      } else {
        throw new TypeError('the module has no handler: export default a function (and export const config), or export default defineFunction({ ..., handler })');
      }
      const json = config === undefined ? '{}' : stringify(config, configValue);
      if (json === undefined) throw new TypeError('the exported config is not JSON data');
      return `{"ok":true,"config":${json}}`;
    } catch (e) {
      return stringify({ ok: false, error: describe(e) });
    }
  }

  // JSON would drop a function or a symbol, turn NaN into null and throw on a bigint or a cycle, so
  // `timeoutMs: () => 1000` would pass as the default: such values cross as a marker instead, which
  // the host's manifest validation reports with its field (NOT_JSON_KEY in manifest.ts).
  const configParents: unknown[] = [];
  function configValue(this: unknown, _key: string, value: unknown): unknown {
    const marker = (what: string): unknown => ({ __fnrunNotJson: what });
    switch (typeof value) {
      case 'function': return marker('a function');
      case 'symbol': return marker('a symbol');
      case 'bigint': return marker(`${value}n (a bigint)`);
      case 'number': return Number.isFinite(value) ? value : marker(String(value));
      case 'object': {
        if (value === null) return value;
        while (configParents.length > 0 && configParents[configParents.length - 1] !== this) configParents.pop();
        if (configParents.includes(value)) return marker('a circular reference');
        configParents.push(value);
        return value;
      }
      default: return value;
    }
  }

  return { init, start, next, resume, cancel };
}

/**
 * The script compiled into each isolate; its completion value is a function taking the host
 * bridge as positional arguments (isolated-vm transfers Callbacks and References one by one).
 */
export const SHIM_SOURCE = `(function (report, opStart, opCancel, progress, urlOp, randomBytes, functionName, envJson, limitsJson) {
'use strict';
const lib = {
  createFormatter: ${createFormatter.toString()},
  createOutput: ${createOutput.toString()},
  createState: ${createState.toString()},
  installEncoding: ${installEncoding.toString()},
  installUrl: ${installUrl.toString()},
  installWeb: ${installWeb.toString()},
  installTimers: ${installTimers.toString()},
  installAbort: ${installAbort.toString()},
  installHeaders: ${installHeaders.toString()},
  installRequestResponse: ${installRequestResponse.toString()},
  installFetch: ${installFetch.toString()},
};
return (${bootstrap.toString()})({ report, opStart, opCancel, progress: new Float64Array(progress), urlOp, randomBytes, functionName, envJson, limitsJson }, lib);
})`;
