/**
 * The trusted bootstrap that runs in every isolate before the user's bundle: it installs `console`
 * and the Web APIs, and returns `{ init, runBatch }` to the child, which holds them as References.
 * Host functions arrive as arguments and live only in closures, so user code never sees an
 * isolated-vm object. The whole shim is strict code: V8 hides strict callers from
 * `Function.prototype.caller` and `Error.prepareStackTrace` call sites.
 *
 * `bootstrap` and the install* functions run INSIDE the isolate (shipped with `toString()`), so
 * they must stay self-contained; they are TypeScript only so that they are type-checked.
 */
import { createFormatter } from './shim-console.ts';
import { installEncoding } from './shim-encoding.ts';
import { installUrl, type UrlOp } from './shim-url.ts';
import { installTimers, type TimerBridge } from './shim-timers.ts';
import { installWeb } from './shim-web.ts';
import { INTERNAL_FILENAME_PREFIX } from '../child/stack-map.ts';

/** Name the shim is compiled under; frames from it are dropped from user stacks. */
export const SHIM_FILENAME = `${INTERNAL_FILENAME_PREFIX}shim.js`;

/**
 * What a report carries (first argument). Results travel as comma-joined JSON texts, `n` of them:
 * RESULTS — events that succeeded; ERROR — one failed event (always alone, so its stack can be
 * mapped); DONE — the batch is over (with the last results); REJECTED — the batch itself was
 * invalid (json is the reason).
 */
export const REPORT_RESULTS = 0;
/** See REPORT_RESULTS. */
export const REPORT_ERROR = 1;
/** See REPORT_RESULTS. */
export const REPORT_DONE = 2;
/** See REPORT_RESULTS. */
export const REPORT_REJECTED = 3;
/**
 * Finished results are flushed to the host at most this often (and at the end of the batch): one
 * host call per event would cost more than the event. What is not flushed when the isolate is
 * killed is re-run by the host.
 */
export const FLUSH_MS = 10;

/** The host side of the isolate, as the shim sees it. */
export interface ShimBridge extends TimerBridge {
  /** Ignored (fire-and-forget) callback, see REPORT_*. */
  report(code: number, n: number, json: string): void;
  /** Shared with the host's watchdog: [index of the running event, its start time (ms)]. */
  progress: Float64Array;
  urlOp: UrlOp;
  randomBytes(n: number): ArrayBuffer;
  functionName: string;
  envJson: string;
}

/** The self-contained helpers the bootstrap calls (shipped as source next to it). */
export interface ShimLib {
  createFormatter: typeof createFormatter;
  installEncoding: typeof installEncoding;
  installUrl: typeof installUrl;
  installWeb: typeof installWeb;
  installTimers: typeof installTimers;
}

/** What the child calls: `init` runs the bundle's top level, `runBatch` runs a batch of events. */
export interface ShimApi {
  /** Returns `{"ok":true,"config":…}` or `{"ok":false,"error":{name,message,stack}}` as JSON text. */
  init(factory: () => unknown): string;
  runBatch(batchJson: string, count: number): Promise<void>;
}

interface Invocation {
  /** Comma-joined JSON texts (strings, not arrays: see "Results are built from strings" below). */
  logs: string;
  logCount: number;
  logChars: number;
  logsCut: boolean;
  emits: string;
  emitCount: number;
  emitChars: number;
  failed: boolean;
  failure: unknown;
  abort: ((e: unknown) => void) | null;
  timers: Set<number> | null;
  done: boolean;
}

/** Installs the globals and returns the shim's API; runs once per isolate, before the bundle. */
export function bootstrap(bridge: ShimBridge, lib: ShimLib): ShimApi {
  // Captured before user code runs, so a handler that patches JSON or Date cannot corrupt results.
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const now = Date.now;
  const freeze = Object.freeze;
  const isArray = Array.isArray;
  const PromiseCtor = Promise;
  const apply = Reflect.apply;
  const sliceString = String.prototype.slice;
  const g = globalThis as unknown as Record<string, unknown>;
  const { report, functionName, progress } = bridge;
  // Copies of the module constants above: this code cannot see module scope.
  const REPORT_RESULTS = 0;
  const REPORT_ERROR = 1;
  const REPORT_DONE = 2;
  const REPORT_REJECTED = 3;
  const FLUSH_MS = 10;
  // Per-event output caps: they bound what one batch can push through the child and the IPC pipe
  // (count x ~4.3 MiB); the runtime's own event size limit applies to emits later.
  const MAX_LOG_LINES = 1000;
  const MAX_LOG_LINE_CHARS = 16 * 1024;
  const MAX_LOG_CHARS = 256 * 1024;
  const MAX_EMIT_CHARS = 4 * 1024 * 1024;
  const resolved = Promise.resolve();
  const noop = (): void => {};
  const env = freeze(parse(bridge.envJson) as Record<string, string>);
  const { format, describe } = lib.createFormatter();
  let handler: ((event: unknown, ctx: unknown) => unknown) | null = null;
  let current: Invocation | null = null;

  function fail(inv: Invocation, e: unknown): void {
    if (inv.failed) return;
    inv.failed = true;
    inv.failure = e;
    inv.abort?.(e);
  }

  lib.installWeb(g, bridge.randomBytes);
  lib.installEncoding(g);
  lib.installUrl(g, bridge.urlOp);
  const endTimers = lib.installTimers<Invocation>(g, bridge, () => current, fail);

  function log(level: string, args: unknown[]): void {
    const inv = current;
    if (inv === null) return; // outside an invocation (top level, late async work): nowhere to go
    if (inv.logsCut) return;
    if (inv.logCount >= MAX_LOG_LINES || inv.logChars >= MAX_LOG_CHARS) {
      inv.logsCut = true;
      args = [`[fnrun] this invocation logged more than ${MAX_LOG_LINES} lines or ${MAX_LOG_CHARS} characters; the rest is dropped`];
    }
    inv.logCount++;
    let msg: unknown;
    try {
      msg = format(args);
    } catch {
      msg = undefined;
    }
    if (typeof msg !== 'string') msg = '[fnrun] log arguments could not be formatted';
    let text = msg as string;
    if (text.length > MAX_LOG_LINE_CHARS) text = `${apply(sliceString, text, [0, MAX_LOG_LINE_CHARS]) as string}… [truncated ${text.length - MAX_LOG_LINE_CHARS} characters]`;
    inv.logChars += text.length;
    inv.logs += `${inv.logCount > 1 ? ',' : ''}{"level":"${level}","msg":${stringify(text)},"time":${now()}}`;
  }

  const ctxLog = freeze({
    debug: (...a: unknown[]) => log('debug', a),
    info: (...a: unknown[]) => log('info', a),
    warn: (...a: unknown[]) => log('warn', a),
    error: (...a: unknown[]) => log('error', a),
  });
  const consoleObject = freeze({ ...ctxLog, log: ctxLog.info, trace: ctxLog.debug, dir: ctxLog.info, table: ctxLog.info });
  Object.defineProperty(g, 'console', { value: consoleObject, writable: true, configurable: true, enumerable: false });

  function emit(inv: Invocation, type: unknown, key: unknown, data: unknown): Promise<void> {
    let err: Error;
    if (inv.done) err = new Error('ctx.emit was called after the handler returned; await (or return) every emit');
    else if (typeof type !== 'string' || type === '') err = new TypeError('ctx.emit: type must be a non-empty string');
    else if (key !== null && key !== undefined && typeof key !== 'string') err = new TypeError('ctx.emit: key must be a string or null');
    else {
      let json: string | undefined;
      let why = `got ${typeof data}`;
      try {
        json = data === undefined ? 'null' : stringify(data);
      } catch (e) {
        why = e instanceof Error ? e.message : String(e);
      }
      if (json === undefined) err = new TypeError(`ctx.emit("${type}"): data is not JSON-serialisable (${why})`);
      else {
        const line = `{"type":${stringify(type)},"key":${typeof key === 'string' ? stringify(key) : 'null'},"data":${json}}`;
        inv.emitChars += line.length;
        if (inv.emitChars <= MAX_EMIT_CHARS) {
          inv.emits += inv.emitCount++ === 0 ? line : `,${line}`;
          return resolved;
        }
        err = new RangeError(`ctx.emit: the emits of one invocation exceed ${MAX_EMIT_CHARS} characters`);
      }
    }
    // Fails the invocation even if the caller neither awaits nor catches: an emit must never vanish.
    fail(inv, err);
    const p = PromiseCtor.reject(err);
    p.catch(noop);
    return p;
  }

  function init(factory: () => unknown): string {
    try {
      const mod = factory() as { default?: unknown; config?: unknown } | undefined | null;
      if (mod === undefined || mod === null) {
        // An empty file (or one without exports) bundles to nothing; so would a bundle not built as
        // an IIFE with globalName "__fnrun_module", which the bundler never does.
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
        for (const k of Object.keys(def)) if (k !== 'handler') c[k] = (def as Record<string, unknown>)[k];
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

  function endInvocation(inv: Invocation): void {
    inv.done = true;
    endTimers(inv);
    if (current === inv) current = null;
  }

  async function runBatch(batchJson: string, count: number): Promise<void> {
    let items: { event?: unknown; attempt?: unknown }[];
    try {
      items = parse(batchJson);
      if (!isArray(items) || items.length !== count) throw new Error(`the batch holds ${isArray(items) ? items.length : 'no'} events, expected an array of ${count}`);
    } catch (e) {
      report(REPORT_REJECTED, 0, e instanceof Error ? e.message : String(e));
      return;
    }
    const h = handler;
    // Results are built from strings, never with array methods: user code shares this realm and may
    // have replaced Array.prototype.push or .join, Object.prototype.toJSON, String… A result that
    // went missing or came out as invalid JSON would make the host re-run the batch forever.
    let pending = '';
    let pendingCount = 0;
    let flushedAt = now();
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as { event?: unknown; attempt?: unknown };
      const inv: Invocation = { logs: '', logCount: 0, logChars: 0, logsCut: false, emits: '', emitCount: 0, emitChars: 0, failed: false, failure: undefined, abort: null, timers: null, done: false };
      const t0 = now();
      progress[1] = t0;
      progress[0] = i;
      current = inv;
      try {
        if (h === null) throw new Error('the function is not initialised');
        const ctx = freeze({ emit: (type: unknown, key: unknown, data: unknown) => emit(inv, type, key, data), log: ctxLog, attempt: item.attempt, env, functionName });
        const r = h(item.event, ctx) as { then?: unknown } | null | undefined;
        if (r !== null && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function' && !inv.failed) {
          // `abort` lets a throwing timer callback or a bad emit fail the invocation without waiting for the handler.
          await new PromiseCtor((resolve, reject) => {
            inv.abort = reject;
            (r.then as (a: unknown, b: unknown) => unknown).call(r, resolve, reject);
          });
        }
      } catch (e) {
        fail(inv, e);
      }
      endInvocation(inv);
      const t1 = now();
      const tail = `"logs":[${inv.logs}],"durationMs":${t1 - t0}}`;
      if (!inv.failed) {
        pending += `${pendingCount++ === 0 ? '' : ','}{"status":"ok","emits":[${inv.emits}],${tail}`;
        if (t1 - flushedAt >= FLUSH_MS) {
          report(REPORT_RESULTS, pendingCount, pending);
          pending = '';
          pendingCount = 0;
          flushedAt = t1;
        }
        continue;
      }
      if (pendingCount > 0) report(REPORT_RESULTS, pendingCount, pending);
      pending = '';
      pendingCount = 0;
      const d = describe(inv.failure);
      // stringify of strings only: an object would go through a user-defined toJSON.
      const error = `{"name":${stringify(text(d.name))},"message":${stringify(text(d.message))},"stack":${stringify(text(d.stack))},"kind":"handler"}`;
      report(REPORT_ERROR, 1, `{"status":"error","error":${error},${tail}`);
      break;
    }
    report(REPORT_DONE, pendingCount, pending);
  }

  function text(value: unknown): string {
    return typeof value === 'string' ? value : '[fnrun] not a string (was String replaced?)';
  }

  return { init, runBatch };
}

/**
 * The script compiled into each isolate; its completion value is a function taking the host
 * bridge as positional arguments (isolated-vm transfers Callbacks and References one by one).
 */
export const SHIM_SOURCE = `(function (report, progress, sleep, cancelTimer, urlOp, randomBytes, functionName, envJson) {
'use strict';
const lib = {
  createFormatter: ${createFormatter.toString()},
  installEncoding: ${installEncoding.toString()},
  installUrl: ${installUrl.toString()},
  installWeb: ${installWeb.toString()},
  installTimers: ${installTimers.toString()},
};
return (${bootstrap.toString()})({ report, progress: new Float64Array(progress), sleep, cancelTimer, urlOp, randomBytes, functionName, envJson }, lib);
})`;
