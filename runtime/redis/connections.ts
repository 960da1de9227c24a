/**
 * A runtime's own connections: one for commands and, on a single server, one for the wake
 * watcher's blocking XREAD (a blocked read holds its connection; on a Cluster the watcher opens one
 * per partition itself), and, with leases, one for heartbeats and lease renewals: on the command
 * connection a renewal would queue behind the reads and commits of a busy process (Redis answers a
 * connection's commands in order), and a process catching up on a backlog would lose its leases
 * for being busy. Opened together, so that a start that fails leaves none behind.
 */
import { withinMs } from '../policy/deadline.ts';
import type { Keys } from './keys.ts';
import { resolvePartitions } from './namespace.ts';
import { connectRedis, isCluster, type Redis } from './redis.ts';
import { withScripts, type ScriptedRedis } from './scripts.ts';

/** The connections of one runtime, and its namespace's partition count. */
export interface RuntimeConnections {
  readonly redis: ScriptedRedis;
  /** The wake watcher's; null on a Cluster. */
  readonly blocking: Redis | null;
  /** Heartbeats and lease renewals' own; null without leases. */
  readonly leases: ScriptedRedis | null;
  /** Opens another connection like `blocking` (on a Cluster, the watcher's per partition). */
  connectWatcher(): Promise<Redis>;
  readonly partitions: number;
}

/**
 * Connects to `url`, checks the namespace's partition count against `partitions` (setting it for
 * a new namespace) before the second connection opens, and hands the connections to `use`; when
 * any of it throws, closes what it opened and throws.
 */
export async function openConnections<T>(
  url: string, keys: Keys, partitions: number | undefined, opts: { leases: boolean }, use: (connections: RuntimeConnections) => T,
): Promise<T> {
  const redis = await connectRedis(url, 'fnrun');
  const connectWatcher = () => connectRedis(url, 'fnrun-watch');
  let blocking: Redis | null = null;
  let leases: Redis | null = null;
  try {
    const resolved = await resolvePartitions(redis, keys, partitions);
    if (!isCluster(redis)) blocking = await connectWatcher();
    if (opts.leases) leases = await connectRedis(url, 'fnrun-lease');
    return use({ redis: withScripts(redis), blocking, leases: leases === null ? null : withScripts(leases), connectWatcher, partitions: resolved });
  } catch (error) {
    redis.disconnect();
    blocking?.disconnect();
    leases?.disconnect();
    throw error;
  }
}

/** QUITs (replies in flight still arrive), then disconnects whatever did not close. */
export async function closeConnections(c: RuntimeConnections): Promise<void> {
  await Promise.allSettled([c.redis.quit(), c.blocking?.quit(), c.leases?.quit()]);
  c.redis.disconnect();
  c.blocking?.disconnect();
  c.leases?.disconnect();
}

/** True when `redis` answers PING within `timeoutMs`: a PING queued behind a reconnect does not. */
export async function answersPingWithin(redis: Redis, timeoutMs: number): Promise<boolean> {
  return (await withinMs(redis.ping().catch(() => 'error'), timeoutMs)) === 'PONG';
}
