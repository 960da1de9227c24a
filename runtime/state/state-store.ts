/**
 * Per-key state as operators and tools see it (the `fnrun state` command, the UI): read, set and
 * delete the state of one (function, event key) directly in Redis.
 *
 * Handlers never come here: their reads and writes go through the worker, which commits them
 * atomically with the event (see DESIGN "Per-key state"). A write made here applies at once, but
 * it races with the function: an event of that key being processed right now read the value
 * before, and its commit, landing after, overwrites the name it wrote. Change state while the
 * function is stopped, or while no events of that key flow, to be sure the change stays.
 */
import { InvalidEventError } from '../errors.ts';
import { partitionFor } from '../policy/partitioner.ts';
import type { Keys } from '../redis/keys.ts';
import type { Redis } from '../redis/redis.ts';
import { withScripts } from '../redis/scripts.ts';
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
    for (const name of Object.keys(raw).sort()) out[name] = JSON.parse(raw[name]!);
    return out;
  }

  /**
   * Sets one value. Throws InvalidEventError when it is not JSON data or past {@link STATE_LIMITS}
   * (per value, and per key with what is stored now). `ttlMs` (the function's `state.ttlMs`)
   * restarts the key's expiry as a handler's write does; without it the hash keeps its TTL.
   */
  async set(fn: string, key: string, name: string, value: unknown, opts: { ttlMs?: number | null } = {}): Promise<void> {
    const json = JSON.stringify(value);
    if (json === undefined) throw new InvalidEventError(`state value for "${name}" is not JSON data`);
    const problem = stateWriteProblem(name, json);
    if (problem !== null) throw new InvalidEventError(problem);
    const [written, names, bytes] = await withScripts(this.#redis).fnrunStateSet(
      this.hashOf(fn, key), name, json, opts.ttlMs ?? 0, STATE_LIMITS.maxNames, STATE_LIMITS.maxKeyBytes,
    );
    if (written !== 1) {
      throw new InvalidEventError(
        `setting "${name.slice(0, 80)}" would make the state of ${fn} for this key ${names} names and ${bytes} bytes, ` +
        `over the limit of ${STATE_LIMITS.maxNames} names and ${STATE_LIMITS.maxKeyBytes} bytes per key; delete some names first`,
      );
    }
  }

  /** Deletes one value, or all of the key's state when `name` is omitted; returns how many were removed. */
  async delete(fn: string, key: string, name?: string): Promise<number> {
    const hash = this.hashOf(fn, key);
    if (name !== undefined) return this.#redis.hdel(hash, name);
    // One step: a count read before a separate DEL could miss a value written in between.
    const [[lenError, count], [delError]] = (await this.#redis.multi().hlen(hash).del(hash).exec()) as [[Error | null, number], [Error | null, number]];
    if (lenError ?? delError) throw lenError ?? delError;
    return count;
  }
}

/** Why a state write from outside a handler is refused, in words that say the limit, or null (handlers meet the same limits in the isolate: shim-state.ts). */
export function stateWriteProblem(name: string, json: string): string | null {
  if (name.length === 0 || name.length > STATE_LIMITS.maxNameChars) return `state names are 1 to ${STATE_LIMITS.maxNameChars} characters, got ${name.length}`;
  const bytes = Buffer.byteLength(json);
  if (bytes > STATE_LIMITS.maxValueBytes) return `state value "${name.slice(0, 80)}" is ${bytes} bytes of JSON (UTF-8), over the ${STATE_LIMITS.maxValueBytes}-byte limit per value`;
  return null;
}
