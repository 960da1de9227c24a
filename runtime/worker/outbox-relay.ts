/**
 * Moves events that handlers emitted to another partition out of the emitting partition's outbox.
 *
 * On a Redis Cluster the commit script can only touch the emitting partition's slot, so an emit
 * bound for another partition is appended to that partition's outbox stream in the same atomic
 * commit, and relayed from there: each outbox entry is published to its target partition with the
 * dedupe id `outbox:<partition>:<entry id>`, then deleted. A crash between the two redoes the
 * publish, which the dedupe window turns into a no-op; entries are relayed in outbox order, so two
 * emits to one key keep their order. The partition's owner relays: after each commit that wrote
 * to the outbox, and when it acquires the partition (what a crashed owner left).
 */
import type { Keys } from '../redis/keys.ts';
import type { Logger } from '../logger.ts';
import { crossSlotPipeline } from '../redis/pipeline.ts';
import type { ScriptedRedis } from '../redis/scripts.ts';

/** How long a relayed outbox entry's dedupe id is kept: the window in which a re-relay is a no-op. */
export const OUTBOX_DEDUPE_WINDOW_MS = 10 * 60_000;
const PAGE = 100;
const RETRY_MS = 500;

/** The outbox entry of an emit to partition `to`: the target, then the event's wire fields. */
export function outboxFields(to: number, fields: readonly string[]): string[] {
  return ['to', String(to), ...fields];
}

export class OutboxRelay {
  private readonly redis: ScriptedRedis;
  private readonly keys: Keys;
  private readonly logger: Logger;
  private readonly owns: (partition: number) => boolean;
  /** Partitions with a drain running; `true` when another drain was asked for meanwhile. */
  private readonly draining = new Map<number, boolean>();
  private readonly runs = new Set<Promise<void>>();
  private stopped = false;

  constructor(redis: ScriptedRedis, keys: Keys, logger: Logger, owns: (partition: number) => boolean) {
    this.redis = redis;
    this.keys = keys;
    this.logger = logger;
    this.owns = owns;
  }

  /** Relays `partition`'s outbox soon; cheap to call often (one drain at a time per partition). */
  kick(partition: number): void {
    if (this.stopped) return;
    if (this.draining.has(partition)) {
      this.draining.set(partition, true);
      return;
    }
    this.draining.set(partition, false);
    const run = this.drainLoop(partition).finally(() => this.runs.delete(run));
    this.runs.add(run);
  }

  /** Stops relaying; what is left stays in the outbox for the partition's next owner. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.runs]);
  }

  private async drainLoop(partition: number): Promise<void> {
    try {
      for (;;) {
        try {
          await this.drain(partition);
        } catch (error) {
          if (this.stopped || !this.owns(partition)) return;
          this.logger.warn({ err: error, partition }, 'outbox relay failed; retrying');
          await new Promise((r) => setTimeout(r, RETRY_MS));
          continue;
        }
        if (this.draining.get(partition) !== true || this.stopped) return;
        this.draining.set(partition, false);
      }
    } finally {
      this.draining.delete(partition);
    }
  }

  private async drain(partition: number): Promise<void> {
    const outbox = this.keys.partition(partition).outbox;
    while (!this.stopped) {
      const page = (await this.redis.xrange(outbox, '-', '+', 'COUNT', PAGE)) as [string, string[]][];
      if (page.length === 0) return;
      const pipeline = crossSlotPipeline(this.redis) as unknown as ScriptedRedis & { exec(): Promise<[Error | null, unknown][] | null> };
      for (const [id, fields] of page) {
        const target = this.keys.partition(Number(fields[1]));
        pipeline.fnrunPublishDedupe(target.events, target.dedupe(`outbox:${partition}:${id}`), OUTBOX_DEDUPE_WINDOW_MS, ...fields.slice(2));
      }
      for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
      await this.redis.xdel(outbox, ...page.map(([id]) => id));
    }
  }
}
