/**
 * What user code is given to act through: the global `console`, which acts for the invocation
 * running now (and drops output between invocations), and each invocation's `ctx`, which acts for
 * its own invocation wherever it is called from.
 *
 * Runs INSIDE the isolate: shipped as source, so it must stay self-contained.
 */
import type { Ops, OpOwner } from './shim-ops.ts';
import type { OutputOwner, createOutput } from './shim-output.ts';
import type { StateHolder, StateLimits, StateOwner, createState } from './shim-state.ts';

/** One event of a chain as the child sends it. */
export interface ChainItem {
  event: { key?: unknown };
  attempt: number;
  idem: string;
}

/** The part of an invocation its `ctx` needs. */
export interface ContextOwner extends OutputOwner, StateOwner, OpOwner {
  /** State per event key, shared by the chain's invocations. */
  chain: { cid: number; holders: Map<string, StateHolder> };
  /** Set here: the key's state, which the invocation's writes go to when it succeeds. */
  holder: StateHolder | null;
}

/** What the contexts are built from (the shim's helpers and the function's values). */
export interface ContextDeps<T> {
  output: ReturnType<typeof createOutput>;
  ops: Pick<Ops<T>, 'start'>;
  createState: typeof createState;
  limits: StateLimits;
  env: Readonly<Record<string, string>>;
  functionName: string;
}

/** Defines `console` (acting for `current()`); returns `makeContext(owner, item)`, which builds a handler's `ctx`. */
export function installContext<T extends ContextOwner>(g: Record<string, unknown>, deps: ContextDeps<T>, current: () => T | null): (owner: T, item: ChainItem) => unknown {
  const freeze = Object.freeze;
  const { output, ops, limits, env, functionName } = deps;
  const NO_STATE: StateHolder = { state: null, loading: null };

  const consoleLog = (level: string) => (...a: unknown[]) => {
    const owner = current();
    if (owner !== null) output.log(owner, level, a);
  };
  const consoleObject = freeze({
    debug: consoleLog('debug'), info: consoleLog('info'), warn: consoleLog('warn'), error: consoleLog('error'),
    log: consoleLog('info'), trace: consoleLog('debug'), dir: consoleLog('info'), table: consoleLog('info'),
  });
  Object.defineProperty(g, 'console', { value: consoleObject, writable: true, configurable: true, enumerable: false });

  return function makeContext(inv: T, item: ChainItem): unknown {
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
    const state = deps.createState(holder, inv, key, limits, (done) => {
      ops.start(inv, 'state', key ?? '').promise.then((json) => done(null, json as string), (e) => done(e, null));
    });
    return freeze({
      emit: (type: unknown, key: unknown, data: unknown) => output.emit(inv, type, key, data),
      log, attempt: item.attempt, env, functionName, idempotencyKey: item.idem, state,
    });
  };
}
