/**
 * `fnrun dev` runs unleased: two of them on one namespace read the same consumer groups, so each
 * event reaches only one of them, unpredictably, and one of them may look idle. Each session
 * heartbeats into `<ns>:dev-sessions`; a session that sees another one warns (at start, and when
 * one appears later).
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { connectRedis, type Keys } from '../runtime/internal.ts';

/** Heartbeat period; a session silent for {@link STALE_MS} is gone (a crash leaves its entry behind). */
const HEARTBEAT_MS = 5000;
const STALE_MS = 15_000;

export class DevPresence {
  readonly id = `${hostname()}:${process.pid}`;
  private readonly redis: Redis;
  private readonly keys: Keys;
  private readonly onOthers: (others: string[]) => void;
  private readonly warned = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private beat: Promise<void> = Promise.resolve();

  /** `onOthers` is called with the sessions not reported before (at most once per session). */
  constructor(redis: Redis, keys: Keys, onOthers: (others: string[]) => void) {
    this.redis = redis;
    this.keys = keys;
    this.onOthers = onOthers;
  }

  /** Registers this session and reports the others already there. */
  async start(): Promise<void> {
    await this.heartbeat();
    this.timer = setInterval(() => { this.beat = this.heartbeat().catch(() => {}); }, HEARTBEAT_MS);
    this.timer.unref();
  }

  /** Leaves the set. Idempotent. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.beat;
    await this.redis.zrem(this.keys.devSessions, this.id).catch(() => {});
  }

  private async heartbeat(): Promise<void> {
    const now = Date.now();
    const replies = await this.redis.multi()
      .zadd(this.keys.devSessions, now, this.id)
      .zremrangebyscore(this.keys.devSessions, '-inf', now - STALE_MS)
      .zrange(this.keys.devSessions, 0, -1)
      .exec();
    const members = (replies?.[2]?.[1] as string[] | undefined) ?? [];
    const fresh = members.filter((m) => m !== this.id && !this.warned.has(m));
    for (const m of fresh) this.warned.add(m);
    if (fresh.length > 0) this.onOthers(fresh);
  }
}

/**
 * Joins the sessions of `keys.namespace` on its own connection and calls `warn` with the warning
 * to print whenever another session is (or comes) there. Stop it before Redis goes.
 */
export async function watchPresence(redisUrl: string, keys: Keys, warn: (message: string) => void): Promise<{ stop(): Promise<void> }> {
  const redis = await connectRedis(redisUrl, 'fnrun-dev-presence');
  const presence = new DevPresence(redis, keys, (others) => warn(sharedNamespaceWarning(others, keys.namespace)));
  try {
    await presence.start();
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  return {
    async stop() {
      await presence.stop();
      redis.disconnect();
    },
  };
}

/** The warning for `others` on `namespace`. */
export function sharedNamespaceWarning(others: readonly string[], namespace: string): string {
  return `another fnrun dev (${others.join(', ')}) runs on namespace "${namespace}" of this Redis: the two share its ` +
    'consumer groups, so each event reaches only one of them, unpredictably; stop the other one, or give this one its own --namespace';
}
