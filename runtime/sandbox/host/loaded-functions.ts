/**
 * The functions the host has loaded, kept across child restarts: what a new child must reload (in
 * load order), what the current child has loaded, and what was dropped because reloading it failed
 * or killed the child.
 */
import type { LoadSpec } from '../protocol.ts';

/** The host's functions, by id. */
export class LoadedFunctions {
  readonly #specs = new Map<string, LoadSpec>();
  /** Loaded in the current child. */
  readonly #ready = new Set<string>();
  /** Dropped, with the message their events fail with. */
  readonly #broken = new Map<string, string>();

  /** True once the current child has loaded `fnId`. */
  isReady(fnId: string): boolean {
    return this.#ready.has(fnId);
  }

  /** What a new child must reload, in load order. */
  specs(): LoadSpec[] {
    return [...this.#specs.values()];
  }

  /** The child loaded `spec`; a reload counts only while `spec` is still the function's current version. */
  loaded(spec: LoadSpec, restore: boolean): void {
    if (restore && this.#specs.get(spec.id) !== spec) return;
    this.#specs.delete(spec.id); // re-inserted last: restore order follows load order
    this.#specs.set(spec.id, spec);
    this.#broken.delete(spec.id);
    this.#ready.add(spec.id);
  }

  unload(id: string): void {
    this.#specs.delete(id);
    this.#ready.delete(id);
    this.#broken.delete(id);
  }

  /** The child died: nothing is loaded until the next one reloads it. */
  childDied(): void {
    this.#ready.clear();
  }

  /** Why events of `fnId` cannot run, or null when they can. */
  problem(fnId: string): string | null {
    return this.#broken.get(fnId) ?? (this.#specs.has(fnId) ? null : `function ${fnId} is not loaded`);
  }

  /** Drops `spec` (unless another version replaced it); returns the message its events now fail with, or null. */
  drop(spec: LoadSpec, reason: string): string | null {
    if (this.#specs.get(spec.id) !== spec) return null;
    this.#specs.delete(spec.id);
    const message = `${spec.name} (${spec.id}) could not be reloaded after a sandbox crash (${reason}); load it again`;
    this.#broken.set(spec.id, message);
    return message;
  }
}
