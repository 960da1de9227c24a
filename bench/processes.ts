/**
 * Scenario "processes": N `fnrun start` processes (the real CLI) on one Redis draining one
 * pre-filled backlog with one trivial function, for N = 1, 2, 4.
 *
 * The processes start first with nothing deployed and share the partitions (leases balanced);
 * then the function is deployed (`startFrom: 'earliest'`, so its cursor starts at the backlog's
 * first entry) and every process picks it up from the registry. The clock runs from the first
 * entry read (XINFO GROUPS `entries-read` > 0 on any partition) to every partition settled (lag 0,
 * nothing pending), polled every 20 ms. CPU over the same window: the Redis server's (INFO cpu,
 * user + system, all threads) and the fnrun processes' with their sandbox processes (/proc), in
 * cores (CPU seconds per second). Every process here shares the machine's cores with the others
 * and with Redis: on 2 cores, 4 processes cannot run 4 times as fast, and the Redis CPU column
 * shows how close Redis itself gets to its one core.
 */
import { Keys } from '../runtime/index.ts';
import { connectRedis } from '../runtime/redis/redis.ts';
import { StartProcess } from '../test/chaos/start-process.ts';
import { balancedOver, deploySources, groupProgress, leaseOwners, redisCpuSeconds, treeCpuSeconds, until } from './deployment.ts';
import { sampleRss } from './rss.ts';

export interface ProcessesArgs {
  url: string;
  namespace: string;
  partitions: number;
  events: number;
  processes: number;
}

export interface ProcessesResult {
  eventsPerSec: number;
  /** Cores used by redis-server over the drain. */
  redisCores: number;
  /** Cores used by the fnrun processes and their sandbox processes over the drain. */
  fnrunCores: number;
}

const FUNCTION = "export const config = { events: ['bench.*'], startFrom: 'earliest' };\nexport default async function handler() {}\n";


export async function measure({ url, namespace, partitions, events, processes }: ProcessesArgs): Promise<ProcessesResult> {
  const redis = await connectRedis(url, 'bench-processes');
  const keys = new Keys(namespace);
  const procs = Array.from({ length: processes }, (_, slot) => new StartProcess({
    slot, inc: 0, index: slot, args: ['start', '--redis', url, '--namespace', namespace, '--partitions', String(partitions)], sink: () => {},
  }));
  try {
    await until('every fnrun start is ready', 60_000, () => {
      const dead = procs.find((p) => !p.alive);
      if (dead) throw new Error(`${dead.name} exited: ${dead.stderr}`);
      return procs.every((p) => p.member !== null);
    });
    const pids = procs.map((p) => p.pid);
    await until('the partitions are shared', 60_000, async () => balancedOver(await leaseOwners(redis, keys, partitions), pids));
    await deploySources(url, namespace, partitions, { drain: FUNCTION });
    const group = 'fn:drain';
    await until('the first entry is read', 60_000, async () => (await groupProgress(redis, keys, partitions, group)).started);
    const t0 = performance.now();
    const redis0 = await redisCpuSeconds(redis);
    const fnrun0 = pids.reduce((s, pid) => s + treeCpuSeconds(pid), 0);
    await until('the backlog is drained', 170_000, async () => (await groupProgress(redis, keys, partitions, group)).left === 0);
    const seconds = (performance.now() - t0) / 1000;
    const redisCores = ((await redisCpuSeconds(redis)) - redis0) / seconds;
    const fnrunCores = (pids.reduce((s, pid) => s + treeCpuSeconds(pid), 0) - fnrun0) / seconds;
    sampleRss();
    return { eventsPerSec: events / seconds, redisCores, fnrunCores };
  } finally {
    for (const p of procs) p.signal('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    redis.disconnect();
  }
}
