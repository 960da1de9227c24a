/**
 * The Redis deployments the chaos run can target, and the Redis faults each can inject.
 */
import { startRedisCluster } from '../helpers/redis-cluster.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { startRedisSentinel } from '../helpers/redis-sentinel.ts';
import type { FaultKind, TopologyKind } from './options.ts';

/** A Redis fault: injects it, waits until Redis itself has settled, returns a description. */
export type RedisFault = (random: () => number) => Promise<string>;

export interface Topology {
  kind: TopologyKind;
  /** What `--redis` gets, and what the harness's own connections use. */
  url: string;
  /** Publishes must be acknowledged by a replica (WAIT) to survive a failover. */
  replicated: boolean;
  /** The Redis faults it offers (the process faults `kill` and `stop` are the harness's own). */
  faults: Partial<Record<FaultKind, RedisFault>>;
  stop(): Promise<void>;
}

export async function startTopology(kind: TopologyKind, partitions: number): Promise<Topology> {
  if (kind === 'sentinel') return sentinelTopology();
  if (kind === 'cluster') return clusterTopology(partitions);
  return singleTopology();
}

async function singleTopology(): Promise<Topology> {
  // AOF with appendfsync always: a write is on disk before its reply, so a SIGKILL loses nothing acknowledged.
  const redis = await startRedis({ appendonly: true });
  return {
    kind: 'single',
    url: redis.url,
    replicated: false,
    faults: {
      'redis-restart': async () => {
        await redis.kill(true);
        await redis.restart();
        return 'redis-server SIGKILL + restart (AOF, appendfsync always)';
      },
    },
    stop: () => redis.stop(),
  };
}

async function sentinelTopology(): Promise<Topology> {
  // A primary and one replica (both AOF, appendfsync always) watched by three sentinels.
  const sentinel = await startRedisSentinel({ masterName: 'chaos' });
  return {
    kind: 'sentinel',
    url: sentinel.url,
    replicated: true,
    faults: {
      'redis-restart': async () => {
        const port = await sentinel.primaryPort();
        await sentinel.restartPrimary();
        return `primary (port ${port}) SIGKILL + restart (AOF, appendfsync always)`;
      },
      failover: async () => {
        const { from, to } = await sentinel.failover();
        return `SENTINEL FAILOVER: primary ${from} → ${to}`;
      },
    },
    stop: () => sentinel.stop(),
  };
}

/** Partitions whose slots one `reshard` fault moves, at most. */
const MAX_MOVED_PARTITIONS = 2;

async function clusterTopology(partitions: number): Promise<Topology> {
  // Three masters with a replica each, every node AOF with appendfsync always.
  const cluster = await startRedisCluster({ replicas: 1 });
  const slotOf = new Map<number, number>();
  for (let p = 0; p < partitions; p++) slotOf.set(p, await cluster.keySlot(`{p${p}}`));
  const masters = async () => (await cluster.nodes()).filter((n) => n.role === 'master').sort((a, b) => a.port - b.port);
  const pick = <T>(items: readonly T[], random: () => number): T => items[Math.floor(random() * items.length)]!;
  return {
    kind: 'cluster',
    url: cluster.url,
    replicated: true,
    faults: {
      failover: async (random) => {
        const { from, to } = await cluster.failover(pick(await masters(), random).port);
        return `CLUSTER FAILOVER: master ${from} → its replica ${to}`;
      },
      'master-kill': async (random) => {
        const { killed, promoted, behindBytes } = await cluster.killMaster(pick(await masters(), random).port);
        // What asynchronous replication can lose: the replica's lag at the kill (read just before it).
        return `SIGKILL master ${killed} (its replica ${behindBytes} bytes behind just before): replica ${promoted} took over; ${killed} restarted (AOF) and rejoined as its replica`;
      },
      reshard: async (random) => {
        const count = 1 + Math.floor(random() * MAX_MOVED_PARTITIONS);
        const moves: string[] = [];
        for (const p of new Set(Array.from({ length: count }, () => Math.floor(random() * partitions)))) {
          const slot = slotOf.get(p)!;
          const all = await masters();
          const owner = all.find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b));
          const to = pick(all.filter((m) => m !== owner), random);
          const started = Date.now();
          const { from, keys } = await cluster.moveSlot(slot, to.port);
          moves.push(`partition ${p} (slot ${slot}, ${keys} keys) ${from} → ${to.port} in ${Date.now() - started} ms`);
        }
        return `resharding: ${moves.join('; ')}`;
      },
    },
    stop: () => cluster.stop(),
  };
}
