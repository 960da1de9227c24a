/**
 * Lua scripts, one per atomic transition (runtime/lua/<name>[-<key count>].lua), registered on a
 * connection with ioredis' defineCommand so they run by EVALSHA with a transparent EVAL fallback.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

const load = (file: string) => readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8');

const SCRIPTS = {
  fnrunPublishDedupe: { lua: load('publish-dedupe-2.lua'), numberOfKeys: 2 },
  fnrunCommit: { lua: load('commit.lua') },
  fnrunReplay: { lua: load('replay-2.lua'), numberOfKeys: 2 },
} as const;

/** A connection with fnrun's scripts defined on it. */
export interface ScriptedRedis extends Redis {
  fnrunPublishDedupe(stream: string, dedupeKey: string, windowMs: number, ...fields: string[]): Promise<[string, number]>;
  /** Variable key count: first argument is the number of keys. */
  fnrunCommit(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<number>;
  fnrunReplay(deadLetters: string, stream: string, deadLetterId: string, ...fields: string[]): Promise<string | null>;
}

const defined = new WeakSet<Redis>();

/** Defines the scripts on `redis` once and returns it typed. */
export function withScripts(redis: Redis): ScriptedRedis {
  if (!defined.has(redis)) {
    for (const [name, def] of Object.entries(SCRIPTS)) redis.defineCommand(name, def);
    defined.add(redis);
  }
  return redis as ScriptedRedis;
}
