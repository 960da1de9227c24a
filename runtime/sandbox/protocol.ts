/**
 * What the sandbox host (parent) and the sandbox process (child) say to each other over IPC, and the
 * timing constants both sides agree on. Messages go with `serialization: 'advanced'`, so the large
 * strings (bundles, chains, results) are copied, never re-escaped as they would be inside JSON.
 *
 * The unit of work is a **chain**: consecutive events of one key (or of one partition) for one
 * function version, run one after another inside an isolate; many chains run at once, interleaved
 * at their awaits. Each event's result travels back as soon as it is known.
 */
import type { NetworkConfig, SandboxLimits, SerializedError } from '../types.ts';

/** One function version to load into its own isolate(s). */
export interface LoadSpec {
  /** Unique per load of a function version, e.g. `${name}@${version}#3`. */
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
  /** The manifest's `network`: what `fetch` may reach (nothing by default). */
  network: NetworkConfig;
  /** Values exposed, frozen, as `ctx.env`. */
  env: Record<string, string>;
  /**
   * Boot the isolates on the first chain, not at load (the load then answers with no config): for
   * a deployed version, whose manifest was validated at deploy by a load of the same code, so a
   * process starts without paying ~7 ms per function for functions that may get no event.
   */
  lazy?: boolean;
}

/**
 * One chain to run. `items` is the JSON text of `[{ event, attempt, idem }, …]` (`idem`: the
 * invocation's idempotency key), passed as is into the isolate. `state` is the JSON text of the
 * key's state (`{ name: jsonText }`) when the host prefetched it, else null (the isolate asks for
 * it on first use).
 */
export interface ChainSpec {
  /** Unique per chain and send; results name it. */
  cid: number;
  items: string;
  count: number;
  state: string | null;
}

/** What the sandbox process reports about itself (see `SandboxHost.status`). */
export interface SandboxStatus {
  pid: number;
  /** The Node flags the process was started with; includes `--no-node-snapshot`. */
  execArgv: string[];
  /** Ids of the function versions loaded in this process. */
  loaded: string[];
  rssBytes: number;
  /** Heap in use per loaded function version id (isolated-vm heap statistics, summed over instances). */
  heapUsedBytes: Record<string, number>;
}

/** Parent → child. Requests with a `rid` get an `ok` or `err` answer repeating it. */
export type ParentMessage =
  | { t: 'load'; rid: number; spec: LoadSpec }
  | { t: 'unload'; rid: number; id: string }
  | { t: 'run'; id: string; chains: ChainSpec[] }
  | { t: 'status'; rid: number }
  /** The answer to a child's `state-read`: the key's state as JSON text (`{ name: jsonText }`), or an error. */
  | { t: 'state'; req: number; json: string | null; error: string | null };

/**
 * One event's outcome inside a `results` message: `[cid, index, outcome]`, where `outcome` is the
 * JSON text of an {@link InvocationResult}-shaped object (see results.ts), or, for the commonest
 * outcome — ok, with no emits, logs, state writes or fetches — just its duration in ms: the
 * parent then builds the result without parsing any text.
 */
export type ResultPart = [cid: number, index: number, outcome: string | number];

/** The event that killed the whole sandbox process, as the child saw it before dying. */
export interface Culprit {
  fnId: string;
  /** The chain whose event was running, or null when no chain was running (a boot, a reload). */
  cid: number | null;
  index: number;
  kind: SerializedError['kind'];
  message: string;
  durationMs: number;
}

/** Child → parent. */
export type ChildMessage =
  | { t: 'ready'; pid: number; execArgv: string[] }
  | { t: 'hb' }
  /** `value`: load → the config as JSON text; unload → null; status → SandboxStatus. */
  | { t: 'ok'; rid: number; value: unknown }
  | { t: 'err'; rid: number; code: 'ERR_SANDBOX' | 'ERR_SANDBOX_LOAD'; message: string }
  /** Event outcomes, in order per chain; a chain is over once it has `count` of them. */
  | { t: 'results'; parts: ResultPart[] }
  /** A handler asked for its key's state, which the host did not send with the chain. */
  | { t: 'state-read'; req: number; fnId: string; cid: number; key: string }
  /**
   * Sent just before the child kills itself; `culprit` is null when it cannot tell whose fault it
   * is. `blameless`: the child knows no live invocation is at fault (a disposed isolate that keeps
   * running, its invocation already charged), so nobody is charged and nobody becomes a suspect.
   */
  | { t: 'fatal'; reason: string; culprit: Culprit | null; blameless?: boolean };

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
/**
 * How long a function's top-level code may run (at load, and each time an isolate is recreated).
 * Cloudflare Workers allow 1 s too: heavy initialisation belongs in the handler, lazily, where it
 * delays only the events that need it.
 */
export const TOP_LEVEL_TIMEOUT_MS = 1_000;
/** Largest JSON text of one event's outcome (emits, logs, state writes, error); bigger fails the event. */
export const MAX_RESULT_CHARS = 8 * 1024 * 1024;
/** A `results` message is sent once it holds this many characters (or at the end of the tick). */
export const RESULTS_FLUSH_CHARS = 1024 * 1024;
