/**
 * The requests of one function version's chains: each one is bounded by the deadline of the event
 * that started it and recorded with that event's result. The network policy and connection pools
 * are made on the first request, so a function that never fetches never pays for them.
 */
import { compileNetworkPolicy } from '../../policy/network-policy.ts';
import { WATCHDOG_TICK_MS, type LoadSpec } from '../protocol.ts';
import type { ChainRuns } from './chain-runs.ts';
import { runFetch, type FetchAnswer } from './fetch-bridge.ts';
import { FetchExecutor } from './fetch-executor.ts';
import { fetchExecutorOptions } from './fetch-options.ts';

/** Runs the fetches of the chains in `chains`. */
export class ChainFetches {
  readonly #spec: LoadSpec;
  readonly #chains: ChainRuns;
  #executor: FetchExecutor | null = null;

  constructor(spec: LoadSpec, chains: ChainRuns) {
    this.#spec = spec;
    this.#chains = chains;
  }

  /** A request of chain `cid`'s running event: bounded by that event's deadline, recorded with its result. */
  fetch(cid: number, json: string, body: ArrayBuffer | null, signal: AbortSignal): Promise<FetchAnswer> {
    const chain = this.#chains.get(cid);
    const timeoutMs = this.#spec.limits.timeoutMs;
    const fixed = (chain?.itemStartedAtMs ?? Date.now()) + timeoutMs;
    const index = chain?.next ?? 0;
    // The event's deadline, which moves when another invocation's call held the isolate past it
    // (see FunctionSandbox's #afterCall); while such a call still runs, look again a tick later.
    const deadline = (): number => {
      const c = this.#chains.get(cid);
      if (c === undefined || c.next !== index) return fixed;
      const end = c.itemStartedAtMs + timeoutMs;
      return this.#chains.blockedPast(c, end, Date.now()) ? Date.now() + WATCHDOG_TICK_MS : end;
    };
    this.#executor ??= new FetchExecutor(compileNetworkPolicy(this.#spec.network), fetchExecutorOptions());
    return runFetch(this.#executor, json, body, { signal, deadline }, (record) => {
      const c = this.#chains.get(cid);
      if (c === undefined || c.next !== index) return; // that event is over; its result is gone
      (c.fetches ??= []).push(JSON.stringify(record));
    });
  }

  /** Closes the connections (the function is unloaded). */
  close(): void {
    this.#executor?.close();
  }
}
