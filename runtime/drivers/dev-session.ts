/**
 * The dev loop: runs every function of a folder and reloads one when its files change.
 *
 * chokidar watches the folder; a change rebuilds the affected function with its esbuild context
 * (incremental) and swaps the new version in between batches. A build error or a bad manifest is
 * reported and the previous version keeps running; the other functions are never touched.
 */
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { FunctionBuilder } from '../loading/bundler.ts';
import { discoverFunctions } from '../loading/discover.ts';
import type { FunctionHandle } from '../loading/function-handle.ts';
import type { Runtime } from '../runtime.ts';

/** What the dev loop reports. */
export interface DevSessionEvents {
  /**
   * A function (re)loaded; `ms` is from the file change to the new version being live. `unchanged`:
   * it builds again after a failure, into the version that kept running (nothing was swapped).
   */
  loaded(fn: FunctionHandle, info: { reload: boolean; ms: number; unchanged?: boolean }): void;
  /** A function could not be (re)built or loaded; the previous version, if any, keeps running. */
  failed(name: string, file: string, error: Error): void;
  removed(name: string): void;
  /** The folder holds no function (at start, or once the last one is removed). */
  empty?(dir: string): void;
}

/** Time to let a burst of file events (an editor's save) settle before rebuilding. */
const SETTLE_MS = 20;
/** Past chokidar's 50 ms per-file change throttle. */
const RECHECK_MS = 80;

export class DevSession {
  private readonly runtime: Runtime;
  private readonly dir: string;
  private readonly events: DevSessionEvents;
  private readonly builders = new Map<string, FunctionBuilder>();
  private watcher: FSWatcher | null = null;
  private pending = new Set<string>();
  private firstChangeAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private recheck: NodeJS.Timeout | null = null;
  private work: Promise<void> = Promise.resolve();
  private stopped = false;
  /** The failure last reported per function (or `(functions)`), so a second look does not repeat it. */
  private readonly reported = new Map<string, string>();
  private wasEmpty = false;

  constructor(runtime: Runtime, dir: string, events: DevSessionEvents) {
    this.runtime = runtime;
    this.dir = path.resolve(dir);
    this.events = events;
  }

  /** Builds and loads every function, then watches the folder. */
  async start(): Promise<void> {
    this.watcher = watch(this.dir, { ignoreInitial: true, ignored: (p) => p.includes(`${path.sep}node_modules${path.sep}`) || path.basename(p).startsWith('.') });
    this.watcher.on('all', (_event, file) => this.changed(file));
    this.watcher.on('error', () => {});
    await new Promise<void>((resolve) => this.watcher!.once('ready', () => resolve()));
    await this.sync(null, Date.now(), false);
  }

  /** Stops watching (the runtime is stopped by its owner). Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.recheck) clearTimeout(this.recheck);
    await this.watcher?.close();
    await this.work.catch(() => {});
    await Promise.all([...this.builders.values()].map((b) => b.dispose()));
  }

  private changed(file: string): void {
    if (this.stopped) return;
    if (this.pending.size === 0) this.firstChangeAt = Date.now();
    this.pending.add(path.resolve(file));
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const files = this.pending;
      const since = this.firstChangeAt;
      this.pending = new Set();
      this.work = this.work.then(() => this.sync(files, since, false)).catch(() => {});
      // chokidar drops a file's change events for 50 ms after one it reported (a leading-edge
      // throttle), so a second save right after the first can go unreported: look again once that
      // window is over. An unchanged build has the same hash and reloads nothing, and a failure
      // already reported is not reported again.
      if (this.recheck) clearTimeout(this.recheck);
      this.recheck = setTimeout(() => {
        this.recheck = null;
        if (!this.stopped) this.work = this.work.then(() => this.sync(files, since, true)).catch(() => {});
      }, RECHECK_MS);
    }, SETTLE_MS);
  }

  /**
   * Reconciles functions with the folder: new ones start, deleted ones stop, and changed ones
   * (those whose entry or folder holds a changed file; all of them for a shared file) rebuild.
   * A rebuild whose output did not change is not reloaded (same content hash).
   */
  private async sync(changed: Set<string> | null, since: number, recheck: boolean): Promise<void> {
    const fail = (name: string, file: string, error: Error) => {
      if (recheck && this.reported.get(name) === error.message) return;
      this.reported.set(name, error.message);
      this.events.failed(name, file, error);
    };
    let found;
    try {
      found = await discoverFunctions(this.dir);
      this.reported.delete('(functions)');
    } catch (error) {
      fail('(functions)', this.dir, error as Error);
      return;
    }
    const names = new Set(found.map((f) => f.name));
    for (const [name, builder] of this.builders) {
      if (names.has(name)) continue;
      this.builders.delete(name);
      await builder.dispose();
      await this.runtime.removeFunction(name);
      this.reported.delete(name);
      this.events.removed(name);
    }
    if (found.length === 0 && !this.wasEmpty) this.events.empty?.(this.dir);
    this.wasEmpty = found.length === 0;
    const shared = changed !== null && [...changed].some((file) => !found.some((f) => owns(this.dir, f, file)));
    for (const fn of found) {
      let builder = this.builders.get(fn.name);
      const isNew = builder === undefined || builder.entry !== fn.entry;
      if (!isNew && changed !== null && !shared && ![...changed].some((file) => owns(this.dir, fn, file))) continue;
      if (builder === undefined || builder.entry !== fn.entry) {
        await builder?.dispose();
        builder = new FunctionBuilder({ name: fn.name, entry: fn.entry });
        this.builders.set(fn.name, builder);
      }
      const before = this.runtime.functions.find((h) => h.name === fn.name);
      try {
        const handle = await this.runtime.upsertFunction(await builder.build());
        const recovered = this.reported.delete(fn.name);
        if (handle !== before) this.events.loaded(handle, { reload: before !== undefined, ms: Date.now() - since });
        else if (recovered) this.events.loaded(handle, { reload: true, ms: Date.now() - since, unchanged: true });
      } catch (error) {
        fail(fn.name, fn.entry, error as Error);
      }
    }
  }
}

/** True when `file` belongs to function `fn`: its entry file, or anything in its folder. */
function owns(dir: string, fn: { name: string; entry: string }, file: string): boolean {
  return file === fn.entry || file.startsWith(path.join(dir, fn.name) + path.sep);
}
