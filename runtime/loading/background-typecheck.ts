/**
 * Type-checks functions off the main thread, for `fnrun dev`: the compiler is synchronous and a
 * check takes from a few hundred milliseconds to seconds, which must not stall the workers. Checks
 * run one at a time; functions asked for while one runs are checked together in the next.
 */
import { Worker } from 'node:worker_threads';
import { discoverFunctions } from './discover.ts';
import { ownModulePath } from '../package-paths.ts';
import type { CheckAnswer, CheckRequest } from './typecheck-worker.ts';
import type { TypecheckOutcome } from './typecheck.ts';

const WORKER_ENTRY = ownModulePath('./typecheck-worker.ts', import.meta.url);

export class BackgroundTypecheck {
  readonly #functionsDir: string;
  readonly #onOutcome: (outcome: TypecheckOutcome) => void;
  readonly #onError: (error: Error) => void;
  #worker: Worker | null = null;
  #wanted = new Set<string>();
  #running = false;
  #seq = 0;
  #stopped = false;

  /**
   * `onOutcome` gets each check's result (per function, or why nothing was checked); `onError` a
   * failure of the checker itself (the dev loop goes on without it).
   */
  constructor(functionsDir: string, onOutcome: (outcome: TypecheckOutcome) => void, onError: (error: Error) => void) {
    this.#functionsDir = functionsDir;
    this.#onOutcome = onOutcome;
    this.#onError = onError;
  }

  /** Checks function `name` soon (with any others asked for meanwhile). */
  request(name: string): void {
    if (this.#stopped) return;
    this.#wanted.add(name);
    if (!this.#running) void this.#next();
  }

  /** Ends the worker thread (a check in progress is abandoned). Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const worker = this.#worker;
    this.#worker = null;
    await worker?.terminate();
  }

  async #next(): Promise<void> {
    this.#running = true;
    try {
      while (this.#wanted.size > 0 && !this.#stopped) {
        const names = this.#wanted;
        this.#wanted = new Set();
        // Entries as they are now: a function renamed or deleted since it was asked for is skipped.
        const functions = (await discoverFunctions(this.#functionsDir)).filter((f) => names.has(f.name));
        if (functions.length === 0) continue;
        const outcome = await this.#ask(functions);
        if (outcome === null || this.#stopped) continue;
        // A function saved again meanwhile is checked again next: its report now would be stale.
        if (outcome.report !== null) for (const name of this.#wanted) delete outcome.report.functions[name];
        this.#onOutcome(outcome);
      }
    } catch (error) {
      if (!this.#stopped) this.#onError(error as Error);
    } finally {
      this.#running = false;
    }
  }

  #ask(functions: CheckRequest['functions']): Promise<TypecheckOutcome | null> {
    const worker = this.#worker ??= this.#start();
    const id = ++this.#seq;
    return new Promise((resolve, reject) => {
      const onMessage = (answer: CheckAnswer) => {
        if (answer.id !== id) return;
        done();
        if ('error' in answer) reject(new Error(`the type checker failed: ${answer.error}`));
        else resolve(answer.outcome);
      };
      const onExit = () => { done(); resolve(null); };
      const done = () => { worker.off('message', onMessage); worker.off('exit', onExit); };
      worker.on('message', onMessage);
      worker.once('exit', onExit);
      worker.postMessage({ id, functions } satisfies CheckRequest);
    });
  }

  #start(): Worker {
    const worker = new Worker(WORKER_ENTRY, { workerData: { functionsDir: this.#functionsDir } });
    // A check never keeps the process alive; the worker's own errors reach onError.
    worker.unref();
    worker.on('error', (error) => { if (!this.#stopped) this.#onError(error); });
    worker.on('exit', () => { if (this.#worker === worker) this.#worker = null; });
    return worker;
  }
}
