/**
 * A publish to a namespace nobody runs is almost always a mistake: a mistyped --namespace, or the
 * shared Redis when the functions run in `fnrun dev`'s embedded one. The event is kept (it waits
 * in its stream), but the publisher is told.
 */
import type { Redis } from 'ioredis';
import { type Keys, redactRedisUrl } from '../runtime/internal.ts';
import { knownFunctionNames } from './known-functions.ts';

/** The warning to print for a publish to `keys.namespace` at `url`, or null when functions run there. */
export async function namespaceWarning(redis: Redis, keys: Keys, url: string): Promise<string | null> {
  const where = `namespace "${keys.namespace}" of the Redis at ${redactRedisUrl(url)}`;
  const after = 'the events wait in their stream until a function subscribes; check --namespace and --redis ' +
    '(fnrun dev runs its own Redis: publish from its folder, or with the --redis it printed)';
  if ((await redis.exists(keys.meta)) === 0) return `${where} was new (created by this publish): no function is deployed there and no runtime has run there; ${after}`;
  if ((await knownFunctionNames(redis, keys)).length === 0) return `no function is deployed in ${where}, and none has run there; ${after}`;
  return null;
}
