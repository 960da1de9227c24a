/**
 * What the sandbox host (parent) and the sandbox process (child) say to each other over IPC, and the
 * timing constants both sides agree on. Messages go with `serialization: 'advanced'`, so the large
 * strings (bundles, batches, results) are copied, never re-escaped as they would be inside JSON.
 */
import type { SandboxLimits, SerializedError } from '../types.ts';

/** One function version to load into its own isolate. */
export interface LoadSpec {
  /** Unique per function version, e.g. `${name}@${version}`. */
  id: string;
  /** Function name, for logs, errors and `ctx.functionName`. */
  name: string;
  /** The esbuild bundle: `format: 'iife', globalName: '__fnrun_module'`. */
  code: string;
  /** esbuild's external source map (JSON text), used to map stacks back to the sources. */
  sourceMap: string | null;
  /** The name the bundle is compiled under, e.g. `fnrun:///functions/hello.js`; it appears in stacks. */
  filename: string;
  limits: SandboxLimits;
  /** Values exposed, frozen, as `ctx.env`. */
  env: Record<string, string>;
}

/** What the sandbox process reports about itself (see `SandboxHost.status`). */
export interface SandboxStatus {
  pid: number;
  /** The Node flags the process was started with; includes `--no-node-snapshot`. */
  execArgv: string[];
  /** Ids of the function versions loaded in this process. */
  loaded: string[];
  rssBytes: number;
  /** Heap in use per loaded function version id (isolated-vm heap statistics). */
  heapUsedBytes: Record<string, number>;
}

/** Parent → child. Every request carries a `rid` the answer repeats. */
export type ParentMessage =
  | { t: 'load'; rid: number; spec: LoadSpec }
  | { t: 'unload'; rid: number; id: string }
  | { t: 'invoke'; rid: number; id: string; batch: string; count: number }
  | { t: 'status'; rid: number };

/**
 * The event whose isolate was killed (the batch then stops there), or that killed the whole sandbox
 * process. `rid` is null when the isolate was not running a request (e.g. while being recreated).
 * `done` is a JSON array of the results the child received before the kill, for events 0..n-1 with
 * n <= index: events n..index-1 finished but their results were not flushed yet, and are re-run.
 */
export interface Culprit {
  fnId: string;
  rid: number | null;
  index: number;
  kind: SerializedError['kind'];
  message: string;
  done: string;
  durationMs: number;
}

/** Child → parent. */
export type ChildMessage =
  | { t: 'ready'; pid: number; execArgv: string[] }
  | { t: 'hb' }
  /** `value`: load → the config as JSON text; invoke → the results array as JSON text; status → SandboxStatus. */
  | { t: 'ok'; rid: number; value: unknown }
  | { t: 'err'; rid: number; code: 'ERR_SANDBOX' | 'ERR_SANDBOX_LOAD'; message: string }
  /** The batch's isolate was killed (timeout, memory) at `culprit.index`; the child lives on. */
  | { t: 'killed'; rid: number; culprit: Culprit }
  /** Sent just before the child kills itself; `culprit` is null when it cannot tell whose fault it is. */
  | { t: 'fatal'; reason: string; culprit: Culprit | null };

/** The child sends a heartbeat this often, from its main thread. */
export const HEARTBEAT_INTERVAL_MS = 250;
/**
 * The parent declares the child hung after this long without any message from it. Long enough that
 * an overloaded machine (2 s stalls were seen with 2 cores and several runtimes busy) does not
 * get its healthy sandbox killed, with every invocation in it.
 */
export const HEARTBEAT_TIMEOUT_MS = 5_000;
/** How often the child's watchdog looks at running invocations; bounds timeout precision. */
export const WATCHDOG_TICK_MS = 20;
/**
 * An isolate that was disposed but whose call has not settled after this long is wedged (V8 does not
 * interrupt some builtins, e.g. `new Array(1e9).fill(0)`): only killing the process frees its thread.
 */
export const WEDGE_GRACE_MS = 1_000;
/** Extra time a load gets over `timeoutMs` before the watchdog steps in (compiling large bundles). */
export const LOAD_GRACE_MS = 5_000;
/**
 * Extra time a batch gets to start: it may wait for a thread while other isolates compute
 * (isolated-vm's pool has about as many threads as cores); its first event's clock starts then.
 */
export const START_GRACE_MS = 30_000;
