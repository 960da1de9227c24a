/**
 * What the sandbox process and the shim inside each isolate agree on: the calls the child makes
 * (init, start, next, resume, cancel), the callbacks and values it hands over, the caps, and the names
 * and markers both sides read; and the helpers shipped with the bootstrap.
 *
 * Types and constants only, so the child can import them without the shim's code.
 */
import type { installAbort } from './shim-abort.ts';
import type { createFormatter } from './shim-console.ts';
import type { installContext } from './shim-context.ts';
import type { installEncoding } from './shim-encoding.ts';
import type { installFetch } from './shim-fetch.ts';
import type { installHeaders } from './shim-headers.ts';
import type { createModuleReader } from './shim-module.ts';
import type { createFetchBridge, createOps } from './shim-ops.ts';
import type { OutputLimits, createOutput } from './shim-output.ts';
import type { installRequestResponse } from './shim-request-response.ts';
import type { ResultLimits, createResultJson } from './shim-result.ts';
import type { StateLimits, createState } from './shim-state.ts';
import type { installTimers } from './shim-timers.ts';
import type { UrlOp, installUrl } from './shim-url.ts';
import type { installWeb } from './shim-web.ts';

/** Prefix of every script fnrun itself compiles into an isolate; such frames are dropped from user stacks. */
export const INTERNAL_FILENAME_PREFIX = 'fnrun:///sandbox/';
/** Name the shim is compiled under. */
export const SHIM_FILENAME = `${INTERNAL_FILENAME_PREFIX}shim.js`;
/** A result at index `YIELDED`: the chain stopped to let the call end; the child calls `next` for it. */
export const YIELDED = -1;

/**
 * Reads a `report` batch: records `<cid>,<index>,<length>:<json>` one after another, where
 * `length` is the length of `json` (so nothing inside it needs escaping). Runs in the child.
 */
export function forEachReported(batch: string, each: (cid: number, index: number, json: string) => void): void {
  let at = 0;
  while (at < batch.length) {
    const c1 = batch.indexOf(',', at);
    const c2 = batch.indexOf(',', c1 + 1);
    const colon = batch.indexOf(':', c2 + 1);
    const start = colon + 1;
    const end = start + Number(batch.slice(c2 + 1, colon));
    each(Number(batch.slice(at, c1)), Number(batch.slice(c1 + 1, c2)), batch.slice(start, end));
    at = end;
  }
}

/** Caps the shim enforces per invocation (README "Caps"). */
export interface ShimLimits extends OutputLimits, StateLimits, ResultLimits {
  maxResultChars: number;
}

/** The host side of the isolate, as the shim sees it. */
export interface ShimBridge {
  /**
   * Ignored (fire-and-forget) callback: events' results and YIELDED marks, in the order they were
   * known, as one batch (see {@link forEachReported}).
   */
  report(batch: string): void;
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

/** The self-contained helpers the bootstrap is given (shim-source.ts ships them as source next to it). */
export interface ShimLib {
  createFormatter: typeof createFormatter;
  createOutput: typeof createOutput;
  createState: typeof createState;
  createResultJson: typeof createResultJson;
  createModuleReader: typeof createModuleReader;
  createOps: typeof createOps;
  createFetchBridge: typeof createFetchBridge;
  installContext: typeof installContext;
  installEncoding: typeof installEncoding;
  installUrl: typeof installUrl;
  installWeb: typeof installWeb;
  installTimers: typeof installTimers;
  installAbort: typeof installAbort;
  installHeaders: typeof installHeaders;
  installRequestResponse: typeof installRequestResponse;
  installFetch: typeof installFetch;
}
