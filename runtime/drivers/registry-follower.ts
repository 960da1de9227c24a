/**
 * Keeps a runtime on the registry's active versions: polls the registry epoch and, when it moved,
 * swaps in new versions and stops removed functions (between batches; in-flight invocations finish
 * on the old version).
 */
import type { Logger } from '../logger.ts';
import { storedBundle, type Registry } from '../deploy/registry.ts';
import type { Runtime } from '../runtime.ts';

/** How often the epoch is polled: a deploy is live within this plus a load. */
export const REGISTRY_POLL_MS = 250;

export class RegistryFollower {
  private readonly runtime: Runtime;
  private readonly registry: Registry;
  private readonly logger: Logger;
  private epoch = -1;
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> = Promise.resolve();
  private running = false;

  constructor(runtime: Runtime, registry: Registry, logger: Logger) {
    this.runtime = runtime;
    this.registry = registry;
    this.logger = logger;
  }

  /** Loads the active versions, then follows changes. */
  async start(): Promise<void> {
    this.running = true;
    await this.poll();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.round;
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.round = this.poll().catch((error: unknown) => this.logger.error({ err: error }, 'registry poll failed')).finally(() => this.schedule());
    }, REGISTRY_POLL_MS);
  }

  private async poll(): Promise<void> {
    const epoch = await this.registry.epoch();
    if (epoch === this.epoch) return;
    const deployed = await this.registry.list();
    let failed = false;
    const running = new Map(this.runtime.functions.map((f) => [f.name, f.version]));
    const changed = deployed.filter((d) => running.get(d.name) !== String(d.active));
    // Every changed version in one round trip: a process starting with many functions reads them all at once.
    const versions = await this.registry.actives(changed.map((d) => d.name));
    const present = versions.flatMap((stored) => (stored === null || stored === undefined ? [] : [stored]));
    const previous = new Map(this.runtime.functions.map((f) => [f.name, f.version]));
    // One change for all of them: a process starting with many functions loads them side by side.
    const outcomes = await this.runtime.upsertFunctions(present.map((stored) => ({ bundle: storedBundle(stored), version: String(stored.version) })));
    outcomes.forEach((outcome, i) => {
      const stored = present[i]!;
      if (outcome.status === 'fulfilled') {
        const handle = outcome.value;
        this.logger.info({ function: handle.name, version: handle.version, previous: previous.get(handle.name) ?? null }, `function ${handle.name} now at version ${handle.version}`);
      } else {
        failed = true;
        this.logger.error({ err: outcome.reason, function: stored.name, version: stored.version }, `could not load ${stored.name} version ${stored.version}; the previous version keeps running`);
      }
    });
    const names = new Set(deployed.map((d) => d.name));
    for (const fn of this.runtime.functions) {
      if (names.has(fn.name)) continue;
      await this.runtime.removeFunction(fn.name);
      this.logger.info({ function: fn.name }, `function ${fn.name} removed`);
    }
    // A version that failed to load is tried again at the next poll.
    if (!failed) this.epoch = epoch;
  }
}
