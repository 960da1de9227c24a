/**
 * Pub/sub helpers that must know the topology.
 *
 * On a Redis Cluster a PUBLISH reaches the subscribers of every node, but `PUBSUB NUMSUB` counts
 * only the subscribers of the node it runs on ("PUBSUB replies only report information from the
 * node's Pub/Sub context"), and ioredis subscribes through any node, replicas included: so the
 * count is summed over all of them.
 */
import type { Cluster } from 'ioredis';
import { isCluster, type Redis } from './redis.ts';

/** How many clients subscribe to `channel`, over every node of a Cluster. */
export async function countSubscribers(redis: Redis, channel: string): Promise<number> {
  const nodes = isCluster(redis) ? (redis as unknown as Cluster).nodes('all') : [redis];
  const replies = await Promise.all(nodes.map((node) => node.pubsub('NUMSUB', channel) as Promise<[string, number]>));
  return replies.reduce((sum, reply) => sum + Number(reply[1] ?? 0), 0);
}
