/**
 * The functions a runtime runs: loaded at start (a folder, bundles), added, replaced and removed
 * while it runs (the dev loop, deploys). Changes apply one at a time in call order; each one hands
 * the new consumer-group plan to `apply`; an old version is unloaded from the sandbox once its last
 * chain is over, so a reload never cuts an invocation short.
 */
import { FnrunError, ManifestError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { SandboxHost } from '../sandbox/host/host.ts';
import { bundleFunction, type FunctionBundle } from './bundler.ts';
import { discoverFunctions } from './discover.ts';
import type { EnvAccess } from './env-policy.ts';
import type { FunctionHandle } from './function-handle.ts';
import { loadFunction } from './function-loader.ts';
import { planGroups, type ConsumerGroup } from './group-plan.ts';

/** A function that could not be loaded; the others run regardless. */
export interface LoadFailure {
  name: string;
  file: string;
  error: Error;
}

/** What the set needs from its runtime. */
export interface FunctionSetOptions {
  sandbox: SandboxHost;
  /** Resolves once no chain runs on a sandbox id. */
  idle(sandboxId: string): Promise<void>;
  /** Which host variables functions may read (the operator's allow-list). */
  envAccess: EnvAccess;
  logger: Logger;
  /** Makes the workers match a new plan. */
  apply(plan: ConsumerGroup[]): Promise<void>;
}

export class FunctionSet {
  /** Functions that failed to build or load at start; the others run. */
  readonly loadFailures: LoadFailure[] = [];
  readonly #o: FunctionSetOptions;
  readonly #handles = new Map<string, FunctionHandle>();
  #changes: Promise<unknown> = Promise.resolve();

  constructor(o: FunctionSetOptions) {
    this.#o = o;
  }

  /** The functions running now. */
  get functions(): FunctionHandle[] {
    return [...this.#handles.values()];
  }

  /** The newest loaded version of `name`. */
  resolve(name: string): FunctionHandle | undefined {
    return this.#handles.get(name);
  }

  /** The consumer groups of the functions running now. */
  plan(): ConsumerGroup[] {
    return planGroups([...this.#handles.values()]);
  }

  /**
   * Loads `bundles` and every function of `functionsDir`. One that fails to build or load is in
   * {@link loadFailures} and the logs; a group whose members disagree keeps its first members and
   * reports the others; the rest run.
   */
  async loadInitial(bundles: readonly FunctionBundle[], functionsDir: string | undefined): Promise<void> {
    const all = [...bundles];
    if (functionsDir !== undefined) {
      for (const { name, entry } of await discoverFunctions(functionsDir)) {
        try {
          all.push(await bundleFunction({ name, entry }));
        } catch (error) {
          this.#fail(name, entry, error);
        }
      }
    }
    // All at once: the sandbox boots them side by side (a start with 100 functions is not 100 round trips).
    const loaded: FunctionHandle[] = [];
    const outcomes = await Promise.allSettled(all.map((b) => loadFunction(this.#o.sandbox, b, b.hash.slice(0, 12), this.#o.envAccess)));
    outcomes.forEach((o, i) => {
      if (o.status === 'fulfilled') loaded.push(o.value);
      else this.#fail(all[i]!.name, all[i]!.entry, o.reason);
    });
    for (;;) {
      try {
        planGroups(loaded);
        break;
      } catch (error) {
        const culprit = error instanceof ManifestError ? loaded.findIndex((h) => h.file === error.file || h.name === error.file) : -1;
        if (culprit < 0) throw error;
        const [bad] = loaded.splice(culprit, 1);
        this.#fail(bad!.name, bad!.file, error);
        await this.#o.sandbox.unload(bad!.sandboxId);
      }
    }
    for (const h of loaded) this.#handles.set(h.name, h);
  }

  /**
   * Loads `bundle` as the new version of its function (or a new function) and swaps it in: new
   * chains use it, chains in flight finish on the old one. On any error (bad manifest, load
   * failure, group conflict) the old version keeps running and the error is thrown.
   */
  async upsert(bundle: FunctionBundle, version = bundle.hash.slice(0, 12)): Promise<FunctionHandle> {
    const [outcome] = await this.upsertMany([{ bundle, version }]);
    if (outcome!.status === 'rejected') throw outcome!.reason;
    return outcome!.value;
  }

  /**
   * {@link upsert} for several functions as one change: they load side by side, and the workers
   * are re-planned once. The outcome of each is what upserting them one by one, in order, gives.
   */
  upsertMany(changes: readonly { bundle: FunctionBundle; version?: string }[]): Promise<PromiseSettledResult<FunctionHandle>[]> {
    return this.#serial(async () => {
      const wanted = changes.map(({ bundle, version }) => ({ bundle, version: version ?? bundle.hash.slice(0, 12) }));
      const loads = await Promise.allSettled(wanted.map(({ bundle, version }) => {
        const current = this.#handles.get(bundle.name);
        return current?.version === version ? Promise.resolve(current) : loadFunction(this.#o.sandbox, bundle, version, this.#o.envAccess);
      }));
      const replaced: FunctionHandle[] = [];
      let changed = false;
      const outcomes: PromiseSettledResult<FunctionHandle>[] = [];
      for (const load of loads) {
        if (load.status === 'rejected') {
          outcomes.push(load);
          continue;
        }
        const handle = load.value;
        const old = this.#handles.get(handle.name);
        if (old === handle) {
          outcomes.push(load);
          continue;
        }
        try {
          planGroups([...[...this.#handles.values()].filter((h) => h.name !== handle.name), handle]);
        } catch (error) {
          await this.#o.sandbox.unload(handle.sandboxId);
          outcomes.push({ status: 'rejected', reason: error });
          continue;
        }
        this.#handles.set(handle.name, handle);
        changed = true;
        if (old) replaced.push(old);
        outcomes.push(load);
      }
      if (changed) await this.#o.apply(this.plan());
      for (const old of replaced) this.#unloadWhenIdle(old);
      return outcomes;
    });
  }

  /** Stops a function: its workers finish their chains in flight; its consumer groups stay in Redis. */
  remove(name: string): Promise<void> {
    return this.#serial(async () => {
      const old = this.#handles.get(name);
      if (!old) return;
      this.#handles.delete(name);
      await this.#o.apply(this.plan());
      this.#unloadWhenIdle(old);
    });
  }

  /** Resolves once every change asked for so far is applied. */
  settled(): Promise<void> {
    return this.#changes.then(() => undefined, () => undefined);
  }

  #unloadWhenIdle(handle: FunctionHandle): void {
    void this.#o.idle(handle.sandboxId).then(() => this.#o.sandbox.unload(handle.sandboxId)).catch((error: unknown) => {
      this.#o.logger.warn({ err: error, function: handle.name }, 'could not unload an old function version');
    });
  }

  #serial<T>(change: () => Promise<T>): Promise<T> {
    const run = this.#changes.then(change);
    this.#changes = run.catch(() => undefined);
    return run;
  }

  #fail(name: string, file: string, error: unknown): void {
    const err = error instanceof Error ? error : new FnrunError('ERR_INTERNAL', String(error));
    this.loadFailures.push({ name, file, error: err });
    this.#o.logger.error({ function: name, file, err }, `function ${name} not loaded: ${err.message}`);
  }
}
