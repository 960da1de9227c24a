/**
 * Per-key state as operators and tools see it (the `fnrun state` command, the UI): read, set and
 * delete the state of one (function, event key) directly in Redis.
 *
 * Handlers never come here: their reads and writes go through the worker, which commits them
 * atomically with the event (see DESIGN "Per-key state"). A write made here applies at once; an
 * event of that key being processed right now still sees the value it read.
 */
import { InvalidEventError } from '../errors.ts';
import { partitionFor } from '../policy/partitioner.ts';
import type { Keys } from '../redis/keys.ts';
import type { Redis } from '../redis/redis.ts';
import { STATE_LIMITS } from './state-limits.ts';

/** One (function, key)'s state: name → JSON value. */
export type StateEntries = Record<string, unknown>;

export class StateStore {
  readonly #redis: Redis;
  readonly #keys: Keys;
  readonly #partitions: number;

  constructor(redis: Redis, keys: Keys, partitions: number) {
    this.#redis = redis;
    this.#keys = keys;
    this.#partitions = partitions;
  }

  /** The Redis hash holding `fn`'s state for `key`. */
  hashOf(fn: string, key: string): string {
    return this.#keys.partition(partitionFor(key, this.#partitions)).state(fn, key);
  }

  /** Every state value of `fn` for `key` (an empty object when there is none). */
  async get(fn: string, key: string): Promise<StateEntries> {
    const raw = await this.#redis.hgetall(this.hashOf(fn, key));
    const out: StateEntries = {};
    for (const [name, json] of Object.entries(raw)) out[name] = JSON.parse(json);
    return out;
  }

  /** Sets one value; throws InvalidEventError when it is not JSON or over {@link STATE_LIMITS}. */
  async set(fn: string, key: string, name: string, value: unknown): Promise<void> {
    const json = JSON.stringify(value);
    if (json === undefined) throw new InvalidEventError(`state value for "${name}" is not JSON data`);
    const problem = stateWriteProblem(name, json);
    if (problem !== null) throw new InvalidEventError(problem);
    await this.#redis.hset(this.hashOf(fn, key), name, json);
  }

  /** Deletes one value, or all of the key's state when `name` is omitted; returns how many were removed. */
  async delete(fn: string, key: string, name?: string): Promise<number> {
    const hash = this.hashOf(fn, key);
    if (name !== undefined) return this.#redis.hdel(hash, name);
    const count = await this.#redis.hlen(hash);
    await this.#redis.del(hash);
    return count;
  }
}

/** Why a state write is refused, in words that say the limit, or null. Shared with the worker's commit. */
export function stateWriteProblem(name: string, json: string): string | null {
  if (name.length === 0 || name.length > STATE_LIMITS.maxNameChars) return `state names are 1 to ${STATE_LIMITS.maxNameChars} characters, got ${name.length}`;
  if (json.length > STATE_LIMITS.maxValueBytes) return `state value "${name.slice(0, 80)}" is ${json.length} characters of JSON, over the ${STATE_LIMITS.maxValueBytes}-byte limit per value`;
  return null;
}
