/**
 * The functions a runtime runs: loaded at start (a folder, bundles), added, replaced and removed
 * while it runs (the dev loop, deploys). Changes apply one at a time in call order; each one hands
 * the new consumer-group plan to `apply`; an old version is unloaded from the sandbox once its last
 * chain is over, so a reload never cuts an invocation short.
 */
import { FnrunError, type GroupConflictError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { resolveGroups } from '../policy/group-owners.ts';
import type { SandboxHost } from '../sandbox/host/host.ts';
import type { Manifest } from '../types.ts';
import { bundleFunction, type FunctionBundle } from './bundler.ts';
import { discoverFunctions } from './discover.ts';
import type { EnvAccess } from './env-policy.ts';
import type { FunctionHandle } from './function-handle.ts';
import { loadFunction, withManifestDefaults, type DeployedBundle } from './function-loader.ts';
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

/** One function to load or replace: `version` defaults to the bundle's hash; `rank` as in {@link FunctionSet.upsert}. */
export interface UpsertChange {
  bundle: FunctionBundle | DeployedBundle;
  version?: string;
  rank?: number;
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const groupOf = (manifest: Manifest) => manifest.group?.name ?? null;

export class FunctionSet {
  /**
   * Functions that are not running because their last load failed (to build, to load, or refused
   * by the owner of the group they name: at start or later), or that their group's owner stopped;
   * the others run. An entry goes once its function loads.
   */
  readonly loadFailures: LoadFailure[] = [];
  readonly #o: FunctionSetOptions;
  readonly #handles = new Map<string, FunctionHandle>();
  /**
   * Who joined its group first (lower first; see policy/group-owners.ts), with the group it was
   * ranked in. Given by the caller (the registry's deploy order), or else the load order: by name
   * at start, then each function that joins a group later after every one loaded before it.
   */
  readonly #ranks = new Map<string, { group: string | null; rank: number }>();
  #nextRank = 0;
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
    return planGroups(this.functions, this.#rankOf).groups;
  }

  readonly #rankOf = (name: string): number => this.#ranks.get(name)?.rank ?? Number.MAX_SAFE_INTEGER;

  /** `given`, else the rank `name` has if it stays in its group, else after every function loaded so far. */
  #rankFor(name: string, manifest: Manifest, given: number | undefined): number {
    if (given !== undefined) return given;
    const known = this.#ranks.get(name);
    return known !== undefined && known.group === groupOf(manifest) ? known.rank : this.#nextRank;
  }

  #setRank(name: string, manifest: Manifest, rank: number): void {
    this.#ranks.set(name, { group: groupOf(manifest), rank });
    this.#nextRank = Math.max(this.#nextRank, rank + 1);
  }

  /**
   * Loads `bundles` and every function of `functionsDir`, then hands the plan to `apply`. One that
   * fails to build or load is in {@link loadFailures} and the logs; so is a member its group's
   * owner refuses (here the owner is the member whose name sorts first); the rest run.
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
    // No registry says who joined a group first: the names decide, the same way at every start.
    for (const h of [...loaded].sort(byName)) this.#setRank(h.name, h.manifest, this.#nextRank);
    const { refused } = planGroups(loaded, this.#rankOf);
    for (const h of loaded) {
      const conflict = refused.get(h.name);
      if (conflict === undefined) {
        this.#handles.set(h.name, h);
        continue;
      }
      this.#ranks.delete(h.name);
      this.#fail(h.name, h.file, conflict);
      await this.#o.sandbox.unload(h.sandboxId);
    }
    await this.#o.apply(this.plan());
  }

  /**
   * Loads `bundle` as the new version of its function (or a new function) and swaps it in: new
   * chains use it, chains in flight finish on the old one. On any error (bad manifest, load
   * failure, a {@link GroupConflictError} from its group's owner) the old version keeps running
   * and the error is thrown. Members the new version refuses (it owns their group) stop and are
   * reported in {@link loadFailures}.
   *
   * @param rank - who joined a group first (lower first), when the caller knows (the registry's
   *   deploy order); by default the rank the function had if it stays in its group, else after
   *   every function loaded before
   */
  upsert(bundle: FunctionBundle | DeployedBundle, version = bundle.hash.slice(0, 12), rank?: number): Promise<FunctionHandle> {
    return this.#serial(async () => {
      const [outcome] = await this.#upsertAll([{ bundle, version, rank }]);
      if (outcome!.status === 'rejected') throw outcome!.reason;
      return outcome!.value;
    });
  }

  /**
   * {@link upsert} for several functions as one change: they load side by side, are swapped in
   * one by one in the order given (each outcome is what upserting them one by one gives), and the
   * workers are re-planned once.
   */
  upsertMany(changes: readonly UpsertChange[]): Promise<PromiseSettledResult<FunctionHandle>[]> {
    return this.#serial(() => this.#upsertAll(changes));
  }

  async #upsertAll(changes: readonly UpsertChange[]): Promise<PromiseSettledResult<FunctionHandle>[]> {
    const versionOf = (c: UpsertChange) => c.version ?? c.bundle.hash.slice(0, 12);
    const loads = changes.map((c) => {
      if (this.#handles.get(c.bundle.name)?.version === versionOf(c)) return null;
      const loading = loadFunction(this.#o.sandbox, c.bundle, versionOf(c), this.#o.envAccess);
      loading.catch(() => {}); // awaited below, in order
      return loading;
    });
    const outcomes: PromiseSettledResult<FunctionHandle>[] = [];
    const replaced: FunctionHandle[] = [];
    let changed = false;
    for (const [i, c] of changes.entries()) {
      try {
        const { handle, old } = await this.#swapIn(c.bundle, versionOf(c), c.rank, loads[i]!);
        if (handle !== old) {
          changed = true;
          if (old) replaced.push(old);
        }
        outcomes.push({ status: 'fulfilled', value: handle });
      } catch (error) {
        // Not running at all now: a failure to report (the caller reports the error itself).
        if (!this.#handles.has(c.bundle.name)) this.#fail(c.bundle.name, c.bundle.entry, error, null);
        outcomes.push({ status: 'rejected', reason: error });
      }
    }
    if (changed) await this.#o.apply(this.plan());
    for (const old of replaced) this.#unloadWhenIdle(old);
    return outcomes;
  }

  /** Swaps in `bundle` (being loaded by `loading`, when it was started) unless its group's owner refuses it. */
  async #swapIn(bundle: FunctionBundle | DeployedBundle, version: string, rank: number | undefined, loading: Promise<FunctionHandle> | null): Promise<{ handle: FunctionHandle; old: FunctionHandle | undefined }> {
    const discard = () => void loading?.then((h) => this.#o.sandbox.unload(h.sandboxId), () => {});
    const old = this.#handles.get(bundle.name);
    if (old?.version === version) {
      discard();
      return { handle: old, old };
    }
    const others = this.functions.filter((h) => h.name !== bundle.name);
    // A deployed version carries its manifest: one its group's owner refuses is not swapped in.
    if ('manifest' in bundle) {
      const manifest = withManifestDefaults(bundle.manifest);
      const conflict = this.#refusal(others, { name: bundle.name, manifest, file: bundle.entry }, this.#rankFor(bundle.name, manifest, rank));
      if (conflict !== undefined) {
        discard();
        throw conflict;
      }
    }
    const handle = await (loading ?? loadFunction(this.#o.sandbox, bundle, version, this.#o.envAccess));
    const handleRank = this.#rankFor(handle.name, handle.manifest, rank);
    const conflict = this.#refusal(others, handle, handleRank);
    if (conflict !== undefined) {
      await this.#o.sandbox.unload(handle.sandboxId);
      throw conflict;
    }
    this.#handles.set(handle.name, handle);
    this.#setRank(handle.name, handle.manifest, handleRank);
    this.#forgetFailures(handle.name);
    // It joined as its group's owner, or the owner changed its settings: members that no longer fit stop.
    this.#evictRefused();
    return { handle, old };
  }

  /** Stops a function: its workers finish their chains in flight; its consumer groups stay in Redis. */
  remove(name: string): Promise<void> {
    return this.#serial(async () => {
      const old = this.#handles.get(name);
      if (!old) return;
      this.#handles.delete(name);
      this.#ranks.delete(name);
      // The owner left: the next member owns the group, and members that do not fit it stop.
      this.#evictRefused();
      await this.#o.apply(this.plan());
      this.#unloadWhenIdle(old);
    });
  }

  /** Why the owner of its group refuses `candidate` among `others`, if it does. */
  #refusal(others: readonly FunctionHandle[], candidate: { name: string; manifest: Manifest; file: string }, rank: number): GroupConflictError | undefined {
    if (candidate.manifest.group === null) return undefined;
    const members = others.map((h) => ({ name: h.name, manifest: h.manifest, rank: this.#rankOf(h.name), file: h.file }));
    return resolveGroups([...members, { ...candidate, rank }]).refused.get(candidate.name);
  }

  /** Stops the running functions their group's owner refuses now; they are reported as failures. */
  #evictRefused(): void {
    for (const [name, conflict] of planGroups(this.functions, this.#rankOf).refused) {
      const handle = this.#handles.get(name)!;
      this.#handles.delete(name);
      this.#ranks.delete(name);
      this.#fail(name, handle.file, conflict, 'stopped');
      this.#unloadWhenIdle(handle);
    }
  }

  #forgetFailures(name: string): void {
    for (let i = this.loadFailures.length - 1; i >= 0; i--) if (this.loadFailures[i]!.name === name) this.loadFailures.splice(i, 1);
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

  /** Records a failure; logs it as `function <name> <what>: …` unless `what` is null. */
  #fail(name: string, file: string, error: unknown, what: string | null = 'not loaded'): void {
    const err = error instanceof Error ? error : new FnrunError('ERR_INTERNAL', String(error));
    this.#forgetFailures(name);
    this.loadFailures.push({ name, file, error: err });
    if (what !== null) this.#o.logger.error({ function: name, file, err }, `function ${name} ${what}: ${err.message}`);
  }
}
