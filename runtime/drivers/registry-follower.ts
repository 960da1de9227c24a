/**
 * Keeps a runtime on the registry's active versions: polls the registry epoch and, when it moved,
 * swaps in new versions and stops removed functions (between batches; in-flight invocations finish
 * on the old version).
 */
import { GroupConflictError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { storedBundle, type FunctionSummary, type Registry, type StoredVersion } from '../deploy/registry.ts';
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
  /** Set by a load that failed for another reason than its group's owner, in this poll. */
  private loadFailed = false;

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
    // Removed first: a group whose owner was removed is judged by its next owner below.
    const names = new Set(deployed.map((d) => d.name));
    for (const fn of this.runtime.functions) {
      if (names.has(fn.name)) continue;
      await this.runtime.removeFunction(fn.name);
      this.logger.info({ function: fn.name }, `function ${fn.name} removed`);
    }
    const running = new Map(this.runtime.functions.map((f) => [f.name, f.version]));
    // In the order they joined their groups: a group's owner loads before the members it judges.
    const changed = deployed.filter((d) => running.get(d.name) !== String(d.active)).sort((a, b) => a.joinOrder - b.joinOrder || (a.name < b.name ? -1 : 1));
    // Every changed version in one round trip: a process starting with many functions reads them all at once.
    const versions = await this.registry.actives(changed.map((d) => d.name));
    const loads = changed.flatMap((summary, i) => (versions[i] ? [{ summary, stored: versions[i] }] : []));
    // Refused by a group's owner as it was when they loaded: judged again once every change is in
    // (an owner that moved to another group in the same change was still in this one).
    this.loadFailed = false;
    await this.load(await this.load(loads, true), false);
    const failed = this.loadFailed;
    // A version that failed to load is tried again at the next poll. One its group's owner refuses
    // is not: only a change in the registry (which moves the epoch) can change that.
    if (!failed) this.epoch = epoch;
  }

  /**
   * Upserts them as one change (they load side by side: a process starting with many functions
   * does not wait for each in turn); returns those refused by their group's owner when `quiet`,
   * else logs them.
   */
  private async load(loads: readonly { summary: FunctionSummary; stored: StoredVersion }[], quiet: boolean): Promise<{ summary: FunctionSummary; stored: StoredVersion }[]> {
    if (loads.length === 0) return [];
    const previous = new Map(this.runtime.functions.map((f) => [f.name, f.version]));
    const outcomes = await this.runtime.upsertFunctions(loads.map(({ summary, stored }) => ({ bundle: storedBundle(stored), version: String(stored.version), rank: summary.joinOrder })));
    const refused: { summary: FunctionSummary; stored: StoredVersion }[] = [];
    outcomes.forEach((outcome, i) => {
      const { summary, stored } = loads[i]!;
      const current = previous.get(summary.name);
      if (outcome.status === 'fulfilled') {
        const handle = outcome.value;
        if (handle.version !== current) this.logger.info({ function: handle.name, version: handle.version, previous: current ?? null }, `function ${handle.name} now at version ${handle.version}`);
        return;
      }
      const error: unknown = outcome.reason;
      const byOwner = error instanceof GroupConflictError;
      if (byOwner && quiet) {
        refused.push({ summary, stored });
        return;
      }
      if (!byOwner) this.loadFailed = true;
      this.logger.error({ err: error, function: summary.name, version: stored.version }, `could not load ${summary.name} version ${stored.version}; ${current ? 'the previous version keeps running' : 'it does not run'}`);
    });
    return refused;
  }
}
