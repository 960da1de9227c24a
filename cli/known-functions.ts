/**
 * Which functions a namespace knows: the deployed ones and those seen on its streams (consumer
 * groups, committed versions — how `fnrun dev` functions show up), as `fnrun status` lists them.
 * Commands that act on a function by name check it first, so a typo is refused instead of acting
 * on a function nobody runs.
 */
import type { Redis } from 'ioredis';
import { closestName, getStatus, type Keys, NotFoundError } from '../runtime/internal.ts';

/** The names `fnrun status` would list for the namespace of `keys`, sorted. */
export async function knownFunctionNames(redis: Redis, keys: Keys): Promise<string[]> {
  return (await getStatus(redis, keys, { stuckLimit: 0 })).functions.map((f) => f.name);
}

/** The error for a function name the namespace does not know, naming the ones it does. */
export function unknownFunctionError(name: string, known: readonly string[], namespace: string): NotFoundError {
  const guess = closestName(name, known);
  const list = known.length === 0
    ? `namespace "${namespace}" has none (deploy with fnrun deploy, or run fnrun dev; check --namespace and --redis)`
    : `known: ${known.join(', ')}`;
  return new NotFoundError(`no function "${name}" is deployed or seen on the streams of namespace "${namespace}"; ${guess ? `did you mean "${guess}"? ` : ''}${list}`);
}

/** Throws {@link unknownFunctionError} unless the namespace knows `name`. */
export async function requireKnownFunction(redis: Redis, keys: Keys, name: string): Promise<void> {
  const known = await knownFunctionNames(redis, keys);
  if (!known.includes(name)) throw unknownFunctionError(name, known, keys.namespace);
}
