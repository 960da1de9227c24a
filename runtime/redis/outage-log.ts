/**
 * Logs Redis outages as an operator wants them: one line when the connection is lost, one when
 * it is back, with how long it was down — not one line per reconnect attempt.
 */
import type { Logger } from '../logger.ts';
import { isCluster, type Redis } from './redis.ts';

/** Starts logging the outages of `redis`; returns a function that stops it. */
export function logOutages(redis: Redis, logger: Logger, consequence: string): () => void {
  let lostAt: number | null = null;
  // A Cluster client emits `close` only once every node is gone; one node's failure is
  // reported (and recovered) by ioredis' slot refreshes.
  const downEvents = isCluster(redis) ? ['close'] : ['close', 'reconnecting'];
  const down = () => {
    if (lostAt !== null || redis.status === 'end') return;
    lostAt = Date.now();
    logger.warn({ redis: 'lost' }, `Redis connection lost; reconnecting (${consequence})`);
  };
  const up = () => {
    if (lostAt === null) return;
    const downMs = Date.now() - lostAt;
    lostAt = null;
    logger.info({ redis: 'back', downMs }, `Redis connection back after ${(downMs / 1000).toFixed(1)} s`);
  };
  for (const event of downEvents) redis.on(event, down);
  redis.on('ready', up);
  return () => {
    for (const event of downEvents) redis.off(event, down);
    redis.off('ready', up);
  };
}
