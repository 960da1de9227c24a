/**
 * Retention: trims a partition stream by age and/or length, but never past an entry that some
 * consumer group has not completed. Trimming deletes entries even when they are pending (Redis
 * does not protect the PEL; NOTES-redis §1), so the boundary is computed from every group: its
 * oldest pending entry, or, with nothing pending, the entry after its last-delivered id.
 * {@link RetentionTimer} applies a policy to the partitions a runtime owns, round after round.
 */
import { RUNTIME_DEFAULTS } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Redis } from '../redis/redis.ts';
import { isNoSuchKey } from '../redis/reply-errors.ts';
import { compareStreamIds } from '../redis/stream-id.ts';
import { parseGroupsInfo } from '../redis/stream-info.ts';

export interface RetentionPolicy {
  /** Entries older than this (by id time) may go. */
  maxAgeMs?: number;
  /** At most this many entries are kept. */
  maxLength?: number;
}

export interface TrimResult {
  /** Entries deleted. */
  trimmed: number;
  /** The consumer group holding trimming back, when it stopped short of the policy. */
  heldBackBy: string | null;
}

/** The smallest id greater than `id`. */
function successor(id: string): string {
  const dash = id.indexOf('-');
  return `${id.slice(0, dash)}-${BigInt(id.slice(dash + 1)) + 1n}`;
}

/** Trims `stream` per `policy` without deleting anything a group still needs. */
export async function trimStream(redis: Redis, stream: string, policy: RetentionPolicy, now: number): Promise<TrimResult> {
  let target: string | null = null;
  if (policy.maxAgeMs !== undefined) target = `${Math.max(0, now - policy.maxAgeMs)}-0`;
  if (policy.maxLength !== undefined) {
    const length = await redis.xlen(stream);
    if (length > policy.maxLength) {
      const oldest = (await redis.xrange(stream, '-', '+', 'COUNT', length - policy.maxLength)) as [string, string[]][];
      const byLength = successor(oldest[oldest.length - 1]![0]);
      if (target === null || compareStreamIds(byLength, target) > 0) target = byLength;
    }
  }
  if (target === null) return { trimmed: 0, heldBackBy: null };

  let groups;
  try {
    groups = parseGroupsInfo((await redis.xinfo('GROUPS', stream)) as unknown[]);
  } catch (error) {
    if (isNoSuchKey(error)) return { trimmed: 0, heldBackBy: null };
    throw error;
  }
  let minId = target;
  let heldBackBy: string | null = null;
  const pipeline = redis.pipeline();
  for (const g of groups) if (g.pending > 0) pipeline.xpending(stream, g.name);
  const replies = (await pipeline.exec()) ?? [];
  let reply = 0;
  for (const g of groups) {
    // With entries pending, the oldest one bounds the group; else everything up to last-delivered is done.
    // XPENDING's smallest id is null when the entries were acked since XINFO: nothing pending then.
    const oldest = g.pending > 0 ? ((replies[reply++]?.[1] ?? []) as unknown[])[1] : null;
    const bound = typeof oldest === 'string' ? oldest : successor(g.lastDeliveredId);
    if (compareStreamIds(bound, minId) < 0) {
      minId = bound;
      heldBackBy = g.name;
    }
  }
  const trimmed = Number(await redis.xtrim(stream, 'MINID', minId));
  return { trimmed, heldBackBy };
}

/** What a {@link RetentionTimer} works with. */
export interface RetentionTimerOptions {
  redis: Redis;
  policy: RetentionPolicy & { intervalMs?: number };
  /** The partitions to trim at each round: those owned then. */
  owned(): readonly number[];
  streamOf(partition: number): string;
  logger: Logger;
}

/**
 * Trims the owned partitions every `intervalMs`, until stopped. The next round is scheduled when
 * one ends, so a round slowed down by Redis never overlaps the next; a partition that fails waits
 * for the next round.
 */
export class RetentionTimer {
  readonly #o: RetentionTimerOptions;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(o: RetentionTimerOptions) {
    this.#o = o;
  }

  /** Schedules the first round. */
  start(): void {
    const { redis, policy, owned, streamOf, logger } = this.#o;
    this.#timer = setTimeout(async () => {
      for (const p of owned()) {
        if (this.#stopped) return;
        try {
          const { trimmed, heldBackBy } = await trimStream(redis, streamOf(p), policy, Date.now());
          if (trimmed > 0 || heldBackBy) logger.debug({ partition: p, trimmed, heldBackBy }, 'retention');
        } catch (error) {
          logger.warn({ err: error, partition: p }, 'retention failed; will retry');
        }
      }
      if (!this.#stopped) this.start();
    }, policy.intervalMs ?? RUNTIME_DEFAULTS.retentionIntervalMs);
  }

  /** No round starts after this; one under way stops before its next partition. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }
}
